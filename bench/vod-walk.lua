-- wrk script for bench/vod.sh: each thread walks the URLs listed in
-- the file named by VOD_PATHS (one per line), in turn, from a random start.
local paths = {}
for line in io.lines(os.getenv("VOD_PATHS")) do
  paths[#paths + 1] = line:gsub("^https?://[^/]+", "")
end
local i = 0
function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16) % 100000)
  i = math.random(#paths)
end
function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
