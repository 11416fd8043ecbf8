# ruff: noqa: E501
"""Real wire examples (shapes as the providers document and send them), shared by the tests."""

from __future__ import annotations

ANTHROPIC_STREAM = (
    b"event: message_start\n"
    b'data: {"type":"message_start","message":{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message",'
    b'"role":"assistant","content":[],"model":"claude-sonnet-4-5","stop_reason":null,'
    b'"stop_sequence":null,"usage":{"input_tokens":472,"output_tokens":2,'
    b'"cache_read_input_tokens":100,"cache_creation_input_tokens":0}}}\n\n'
    b"event: content_block_start\n"
    b'data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking",'
    b'"thinking":"","signature":""}}\n\n'
    b"event: ping\n"
    b'data: {"type": "ping"}\n\n'
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta",'
    b'"thinking":"Need the weather tool \xe2\x80\x94 caf\xc3\xa9."}}\n\n'
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta",'
    b'"signature":"EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"}}\n\n'
    b"event: content_block_stop\n"
    b'data: {"type":"content_block_stop","index":0}\n\n'
    b"event: content_block_start\n"
    b'data: {"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}\n\n'
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta",'
    b'"text":"Let me check \xf0\x9f\x8c\xa4"}}\n\n'
    b"event: content_block_stop\n"
    b'data: {"type":"content_block_stop","index":1}\n\n'
    b"event: content_block_start\n"
    b'data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use",'
    b'"id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","name":"get_weather","input":{}}}\n\n'
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta",'
    b'"partial_json":""}}\n\n'
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta",'
    b'"partial_json":"{\\"location\\": \\"San Fra"}}\n\n'
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta",'
    b'"partial_json":"ncisco\\"}"}}\n\n'
    b"event: content_block_stop\n"
    b'data: {"type":"content_block_stop","index":2}\n\n'
    b"event: message_delta\n"
    b'data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},'
    b'"usage":{"output_tokens":89}}\n\n'
    b"event: message_stop\n"
    b'data: {"type":"message_stop"}\n\n'
)

CHAT_STREAM = (
    b'data: {"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk",'
    b'"created":1741569952,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":'
    b'{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],'
    b'"usage":null}\n\n'
    b'data: {"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk",'
    b'"created":1741569952,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":'
    b'{"content":"H\xc3\xa9llo \xe2\x80\x94 "},"logprobs":null,"finish_reason":null}],"usage":null}\n\n'
    b'data: {"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk",'
    b'"created":1741569952,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":'
    b'{"tool_calls":[{"index":0,"id":"call_DdmO9pD3xa9XTPNJ32zg2hcA","type":"function",'
    b'"function":{"name":"get_weather","arguments":""}}]},"logprobs":null,"finish_reason":null}],'
    b'"usage":null}\n\n'
    b'data: {"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk",'
    b'"created":1741569952,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":'
    b'{"tool_calls":[{"index":0,"function":{"arguments":"{\\"location\\":\\"Paris\\"}"}}]},'
    b'"logprobs":null,"finish_reason":null}],"usage":null}\n\n'
    b'data: {"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk",'
    b'"created":1741569952,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":'
    b'{"tool_calls":[{"index":1,"id":"call_2","type":"function",'
    b'"function":{"name":"get_time","arguments":"{}"}}]},"logprobs":null,"finish_reason":null}],'
    b'"usage":null}\n\n'
    b'data: {"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk",'
    b'"created":1741569952,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{},'
    b'"logprobs":null,"finish_reason":"tool_calls"}],"usage":null}\n\n'
    b'data: {"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk",'
    b'"created":1741569952,"model":"gpt-4o-2024-08-06","choices":[],"usage":{"prompt_tokens":82,'
    b'"completion_tokens":17,"total_tokens":99,"prompt_tokens_details":{"cached_tokens":64}}}\n\n'
    b"data: [DONE]"  # no trailing newline, as some vendors end it
)

RESPONSES_STREAM = (
    b"event: response.created\n"
    b'data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_67c9fdcecf",'
    b'"object":"response","created_at":1741290958,"status":"in_progress","model":"gpt-4.1",'
    b'"output":[],"usage":null}}\n\n'
    b"event: response.in_progress\n"
    b'data: {"type":"response.in_progress","sequence_number":1,"response":{"id":"resp_67c9fdcecf",'
    b'"object":"response","status":"in_progress","output":[]}}\n\n'
    b"event: response.output_item.added\n"
    b'data: {"type":"response.output_item.added","sequence_number":2,"output_index":0,"item":'
    b'{"id":"rs_1","type":"reasoning","summary":[]}}\n\n'
    b"event: response.reasoning_summary_text.delta\n"
    b'data: {"type":"response.reasoning_summary_text.delta","sequence_number":3,"item_id":"rs_1",'
    b'"output_index":0,"summary_index":0,"delta":"Thinking it over."}\n\n'
    b"event: response.output_item.done\n"
    b'data: {"type":"response.output_item.done","sequence_number":4,"output_index":0,"item":'
    b'{"id":"rs_1","type":"reasoning","summary":[{"type":"summary_text","text":"Thinking it over."}],'
    b'"encrypted_content":"gAAAAB-opaque"}}\n\n'
    b"event: response.output_item.added\n"
    b'data: {"type":"response.output_item.added","sequence_number":5,"output_index":1,"item":'
    b'{"id":"msg_67c9fdcf","type":"message","status":"in_progress","role":"assistant","content":[]}}\n\n'
    b"event: response.content_part.added\n"
    b'data: {"type":"response.content_part.added","sequence_number":6,"item_id":"msg_67c9fdcf",'
    b'"output_index":1,"content_index":0,"part":{"type":"output_text","text":"","annotations":[]}}\n\n'
    b"event: response.output_text.delta\n"
    b'data: {"type":"response.output_text.delta","sequence_number":7,"item_id":"msg_67c9fdcf",'
    b'"output_index":1,"content_index":0,"delta":"Hi \xc3\xa0 tous"}\n\n'
    b"event: response.output_text.done\n"
    b'data: {"type":"response.output_text.done","sequence_number":8,"item_id":"msg_67c9fdcf",'
    b'"output_index":1,"content_index":0,"text":"Hi \xc3\xa0 tous"}\n\n'
    b"event: response.content_part.done\n"
    b'data: {"type":"response.content_part.done","sequence_number":9,"item_id":"msg_67c9fdcf",'
    b'"output_index":1,"content_index":0,"part":{"type":"output_text","text":"Hi \xc3\xa0 tous"}}\n\n'
    b"event: response.output_item.done\n"
    b'data: {"type":"response.output_item.done","sequence_number":10,"output_index":1,"item":'
    b'{"id":"msg_67c9fdcf","type":"message","status":"completed","role":"assistant","content":'
    b'[{"type":"output_text","text":"Hi \xc3\xa0 tous","annotations":[]}]}}\n\n'
    b"event: response.output_item.added\n"
    b'data: {"type":"response.output_item.added","sequence_number":11,"output_index":2,"item":'
    b'{"id":"fc_1","type":"function_call","status":"in_progress","arguments":"",'
    b'"call_id":"call_9","name":"lookup"}}\n\n'
    b"event: response.function_call_arguments.delta\n"
    b'data: {"type":"response.function_call_arguments.delta","sequence_number":12,"item_id":"fc_1",'
    b'"output_index":2,"delta":"{\\"q\\":1}"}\n\n'
    b"event: response.output_item.done\n"
    b'data: {"type":"response.output_item.done","sequence_number":13,"output_index":2,"item":'
    b'{"id":"fc_1","type":"function_call","status":"completed","arguments":"{\\"q\\":1}",'
    b'"call_id":"call_9","name":"lookup"}}\n\n'
    b"event: response.completed\n"
    b'data: {"type":"response.completed","sequence_number":14,"response":{"id":"resp_67c9fdcecf",'
    b'"object":"response","status":"completed","model":"gpt-4.1","output":[],"usage":'
    b'{"input_tokens":37,"input_tokens_details":{"cached_tokens":0},"output_tokens":11,'
    b'"output_tokens_details":{"reasoning_tokens":5},"total_tokens":48}}}\n\n'
)
