"""L0 HTTP/1.1 on asyncio and httptools: the server side connection and the pooled upstream
client. A leaf: imports nothing from plano."""
