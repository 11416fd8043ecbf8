"""``plano mock-llm``: a fake OpenAI-compatible upstream for offline tests of agents and gateways.

HTTP surface (see :mod:`plano.mock.control` for the control API, :mod:`plano.mock.script` for
reply specs and their precedence, :mod:`plano.mock.faults` for delays and faults):

* ``POST …/chat/completions`` — any path ending so (``/v1/...``, ``/openai/v1/...``,
  ``/v1beta/openai/...``, Azure ``/openai/deployments/{dep}/chat/completions?api-version=...``),
  streamed when ``"stream": true``;
* ``POST …/embeddings`` and Gemini ``…/models/{m}:batchEmbedContents`` / ``:embedContent`` —
  deterministic vectors from a hash of each input (:mod:`plano.mock.embeddings`);
* ``GET …/models`` — the configured models and every model seen in a request;
* ``GET /healthz`` — 200;
* ``/_mock/script`` and ``/_mock/requests`` — script replies, read recorded requests.

In Python: :class:`MockLLM` on a running event loop, or
:func:`plano.mock.testing.run_mock_in_thread` from synchronous code.
"""

from plano.mock.app import MockOptions
from plano.mock.request import MockRequest
from plano.mock.script import Fault, ReplySpec, SpecError, ToolCallSpec
from plano.mock.server import MockLLM

__all__ = [
    "Fault",
    "MockLLM",
    "MockOptions",
    "MockRequest",
    "ReplySpec",
    "SpecError",
    "ToolCallSpec",
]
