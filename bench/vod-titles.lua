-- bench/vod.sh, part 3: requests over 50 titles (title-1.mp4 .. title-50.mp4),
-- each request another title than the one before, each title walked on
-- from a random segment (video, then audio): more titles at once than the
-- index cache holds, the worst case for it.
local cursor = {}
local n = 0
function init(args)
  math.randomseed(os.time() + math.random(1000))
  for t = 1, 50 do cursor[t] = math.random(1, 1190) end
end
function request()
  n = n + 1
  local t = (math.floor(n / 2) % 50) + 1
  local track = (n % 2 == 0) and "v0" or "a0"
  local seg = cursor[t]
  if track == "a0" then cursor[t] = seg % 1200 + 1 end
  return wrk.format("GET", "/hls/b/title-" .. t .. ".mp4/" .. track .. "/seg-" .. seg .. ".m4s")
end
