-- POST /v1/orders, each request with an Idempotency-Key of its own, two items.
package.path = package.path .. ";" .. (os.getenv("BENCH_LUA") or ".") .. "/?.lua"
local common = require("common")
dofile((os.getenv("BENCH_LUA") or ".") .. "/report.lua")

request = common.placement
