-- 70% reads (55% one order, 15% a listing), 30% writes (20% placements, 10% lifecycle
-- events: shipping-address changes of seeded pending orders, always allowed).
package.path = package.path .. ";" .. (os.getenv("BENCH_LUA") or ".") .. "/?.lua"
local common = require("common")
dofile((os.getenv("BENCH_LUA") or ".") .. "/report.lua")

local ids
local address = '{"shippingAddress":{"line1":"1 Lake Shore Dr","city":"Chicago",'
  .. '"region":"IL","postalCode":"60601","country":"US"}}'
request = function()
  ids = ids or common.read_ids()
  local roll = math.random(100)
  local id = ids[math.random(#ids)]
  if roll <= 55 then
    return wrk.format("GET", "/v1/orders/" .. id)
  elseif roll <= 70 then
    return wrk.format("GET", "/v1/orders?customerId=cust-" .. math.random(4) .. "&limit=20")
  elseif roll <= 90 then
    return common.placement()
  else
    return wrk.format("PUT", "/v1/orders/" .. id .. "/shipping",
      {["Content-Type"] = "application/json"}, address)
  end
end
