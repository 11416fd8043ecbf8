"""Config of gateway keys (`access.keys`; the section `access:` is `AccessConfig`).

```yaml
access:
  keys:
    enabled: true
    store: postgres            # memory | file | postgres
    dsn: $PLANO_KEYS_DSN       # postgres
    # path: /var/lib/plano/keys.json   # file
    cache_ttl: 2s              # how often a worker checks the store for changes (revocation)
    admin_token: $PLANO_ADMIN_TOKEN    # the admin API's bearer token
    header: x-plano-key        # optional: one more header carrying the key
    default_max_tokens: 1024   # the budget estimate's output tokens when a request names none
```
"""

from __future__ import annotations

import re
from typing import Annotated, Final, Literal

from pydantic import Field, model_validator

from plano.config.fieldtypes import Duration, StrictModel

DEFAULT_CACHE_TTL: Final = 2.0
_HEADER: Final = re.compile(r"^[A-Za-z0-9-]{1,64}$")


class KeysConfig(StrictModel):
    """`access.keys`: who may call the gateway, with what models, limits and budgets."""

    enabled: bool = False
    store: Literal["memory", "file", "postgres"] = "memory"
    dsn: str | None = Field(default=None, repr=False)  # may hold a password
    path: str | None = None
    cache_ttl: Duration = DEFAULT_CACHE_TTL
    admin_token: str | None = Field(default=None, repr=False)  # a secret: never shown
    header: str | None = None
    default_max_tokens: Annotated[int, Field(ge=1)] = 1024
    call_timeout: Duration = 2.0

    @model_validator(mode="after")
    def _store_settings(self) -> KeysConfig:
        if self.store == "postgres" and not self.dsn:
            raise ValueError("store postgres needs dsn: postgresql://user@host:port/db")
        if self.store == "file" and not self.path:
            raise ValueError("store file needs path: the key file (JSON) to keep keys in")
        if self.header is not None and not _HEADER.match(self.header):
            raise ValueError(f"header '{self.header}' is not an HTTP header name")
        if self.cache_ttl > 60:
            raise ValueError("cache_ttl above 60s would delay revocation too long")
        if self.admin_token is not None and 0 < len(self.admin_token) < 16:
            raise ValueError("admin_token must be at least 16 characters")
        return self


class AccessConfig(StrictModel):
    """`access:`: gateway keys (more access features may join here)."""

    keys: KeysConfig = KeysConfig()
