-- What the workloads share: order ids seeded before the run, the demo customers, and a
-- placement body of two items with a key no other request uses.
local common = {}

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

function common.read_ids()
  local ids = {}
  local file = io.open(os.getenv("BENCH_IDS") or "ids.txt")
  if file then
    for line in file:lines() do ids[#ids + 1] = line end
    file:close()
  end
  return ids
end

local counter = 0
function common.placement()
  counter = counter + 1
  local key = string.format("%s-%d-%d", os.getenv("BENCH_RUN") or "run", thread_number or 0, counter)
  local customer = "cust-" .. (counter % 4 + 1)
  local body = '{"storeId":"store-1","customerId":"' .. customer .. '","items":['
    .. '{"productId":"prod-1","quantity":1,"unitPrice":1000},'
    .. '{"productId":"prod-2","quantity":2,"unitPrice":250}],'
    .. '"shippingCost":500,"taxAmount":120}'
  return wrk.format("POST", "/v1/orders",
    {["Content-Type"] = "application/json", ["Idempotency-Key"] = key}, body)
end

return common
