"""The built-in PII filter (``type: pii``): finds personal data and secrets in the request, replaces
them with per-request placeholders (or masks them, or blocks the request) and restores the
placeholders in the response, whole or streamed.

`detect` finds the entities (patterns compiled at config load, checksums in `checks`),
`session` keeps one request's placeholders, `request` rewrites a request body, `restore` and
`response` put the values back in what the client receives, `filter` is the `Filter` itself.
"""
