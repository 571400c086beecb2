-- GET /v1/orders?storeId=…&status=canceled: the first page of one store's canceled
-- orders, over the stores the scale seed made (BENCH_STORES of them, 1,000 orders each,
-- every tenth canceled).
dofile((os.getenv("BENCH_LUA") or ".") .. "/report.lua")

local stores = tonumber(os.getenv("BENCH_STORES") or "1")
request = function()
  return wrk.format("GET", "/v1/orders?storeId=store-s" .. math.random(0, stores - 1)
    .. "&status=canceled&limit=20")
end
