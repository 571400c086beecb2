-- GET /v1/orders?customerId=…: the first page of one of the customers the scale seed
-- made (BENCH_CUSTOMERS of them, 100 orders each).
dofile((os.getenv("BENCH_LUA") or ".") .. "/report.lua")

local customers = tonumber(os.getenv("BENCH_CUSTOMERS") or "1")
request = function()
  return wrk.format("GET", "/v1/orders?customerId=cust-s" .. math.random(0, customers - 1) .. "&limit=20")
end
