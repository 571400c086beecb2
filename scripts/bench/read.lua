-- GET /v1/orders/{id}, over orders seeded before the run.
package.path = package.path .. ";" .. (os.getenv("BENCH_LUA") or ".") .. "/?.lua"
local common = require("common")
dofile((os.getenv("BENCH_LUA") or ".") .. "/report.lua")

local ids
request = function()
  ids = ids or common.read_ids()
  return wrk.format("GET", "/v1/orders/" .. ids[math.random(#ids)])
end
