-- wrk script: signed `price PrNd` text messages to /wechat, a fresh MsgId on every request.
-- args: path (with the signed query), content, round (a number: each round's MsgIds differ).
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("id", thread_id)
  thread_id = thread_id + 1
end

function init(args)
  path = args[1]
  content = args[2] or "price PrNd"
  round = tonumber(args[3] or "0")
end

function request()
  counter = counter + 1
  local msg_id = string.format("%d%d%09d", round + 1, id + 1, counter)
  local body = "<xml><ToUserName><![CDATA[gh_bench]]></ToUserName>"
    .. "<FromUserName><![CDATA[o_bench_" .. (counter % 500) .. "]]></FromUserName>"
    .. "<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType>"
    .. "<Content><![CDATA[" .. content .. "]]></Content><MsgId>" .. msg_id .. "</MsgId></xml>"
  return wrk.format("POST", path, {["Content-Type"] = "text/xml"}, body)
end
