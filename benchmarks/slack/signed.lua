-- wrk: replays pre-signed Slack requests (one per line: timestamp TAB signature TAB body),
-- each with its own event_id. Usage: wrk -s signed.lua URL -- requests.tsv
local requests = {}
local next_index = 0

function init(args)
  for line in io.lines(args[1]) do
    local ts, sig, body = line:match("^([^\t]+)\t([^\t]+)\t(.*)$")
    requests[#requests + 1] = wrk.format("POST", "/slack/events", {
      ["Content-Type"] = "application/json",
      ["X-Slack-Request-Timestamp"] = ts,
      ["X-Slack-Signature"] = sig,
    }, body)
  end
end

function request()
  next_index = next_index % #requests + 1
  return requests[next_index]
end
