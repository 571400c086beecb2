-- GET /health/live: the cheapest request through the whole middleware stack, run at
-- each concurrency beside every workload as the reference its rate is divided by.
dofile((os.getenv("BENCH_LUA") or ".") .. "/report.lua")

request = function()
  return wrk.format("GET", "/health/live")
end
