"""sealtrail: the Python SDK of the sealtrail audit trail.

    import sealtrail
    client = sealtrail.Client("http://127.0.0.1:7700", "stk_…", agent="billing-bot")
    client.record("tool_call", tool={"name": "refund", "arguments": {"order": 42}})
    client.close()

See docs/sdk-python.md and docs/adapters/.
"""

from .client import Client, current, default_client, init, mint_token, new_id
from .adapters.functions import span, tool

__all__ = ["Client", "init", "default_client", "mint_token", "new_id", "span", "tool", "current"]
__version__ = "0.1.0"
