-- wrk script: signed callbacks from a file, one "path<TAB>body" line each (path with its signed query).
-- Every line is signed afresh (its own timestamp, nonce and MsgId), as WeChat signs every delivery.
-- Each thread takes every n-th line (args: file, number of threads), so no message is sent twice.
local threads = 0

function setup(thread)
  thread:set("thread_index", threads)
  threads = threads + 1
end

function init(args)
  local n, i = tonumber(args[2]), 0
  lines = {}
  for line in io.lines(args[1]) do
    if i % n == thread_index then
      lines[#lines + 1] = line
    end
    i = i + 1
  end
  counter = 0
end

function request()
  counter = counter + 1
  local line = lines[(counter - 1) % #lines + 1]
  local tab = string.find(line, "\t", 1, true)
  return wrk.format("POST", string.sub(line, 1, tab - 1), {["Content-Type"] = "text/xml"}, string.sub(line, tab + 1))
end
