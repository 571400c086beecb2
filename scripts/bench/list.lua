-- GET /v1/orders?customerId=…, a page of 20 of one demo customer's orders.
package.path = package.path .. ";" .. (os.getenv("BENCH_LUA") or ".") .. "/?.lua"
dofile((os.getenv("BENCH_LUA") or ".") .. "/report.lua")

request = function()
  return wrk.format("GET", "/v1/orders?customerId=cust-" .. math.random(4) .. "&limit=20")
end
