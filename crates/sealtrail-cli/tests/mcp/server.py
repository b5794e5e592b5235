"""A real MCP server (the `mcp` SDK's MCPServer) for the mcp-proxy tests.

Usage:
    server.py stdio
    server.py http PORT [--json] [--stateless]     (PORT 0: any free port, printed)

Tools: add, echo, fail (raises: the result has isError), big (a large
text), slow (sleeps), summarize (asks the client's model: MCP sampling, a
request from server to client); a resource note://{name}; a prompt greet.
"""

import socket
import sys
import time
import warnings

import mcp_types as types
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError

mcp = MCPServer("sealtrail-test-server", version="1.2.3")


@mcp.tool()
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


@mcp.tool()
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@mcp.tool()
def fail(reason: str) -> str:
    """Always fails (the answer carries isError)."""
    raise ToolError(f"failed on purpose: {reason}")


@mcp.tool()
def big(size: int) -> str:
    """A text of `size` characters."""
    return "x" * size


@mcp.tool()
def slow(ms: int) -> str:
    """Sleeps, then answers."""
    time.sleep(ms / 1000)
    return f"slept {ms} ms"


@mcp.tool()
async def summarize(text: str, ctx: Context) -> str:
    """Asks the agent's model (MCP sampling) and returns its answer."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sampling is deprecated in 2026-07-28
        result = await ctx.session.create_message(
            messages=[types.SamplingMessage(role="user", content=types.TextContent(type="text", text=text))],
            max_tokens=50,
            related_request_id=ctx.request_context.request_id,
        )
    return result.content.text


@mcp.resource("note://{name}")
def note(name: str) -> str:
    """A note by name."""
    return f"note {name}"


@mcp.prompt()
def greet(name: str) -> str:
    """A greeting prompt."""
    return f"Say hello to {name}."


def serve_http(port: int, json_response: bool, stateless: bool) -> None:
    """Streamable HTTP on 127.0.0.1:PORT; with PORT 0 the system picks a free
    port, printed first on stdout as `port N` (no race between tests)."""
    import anyio
    import uvicorn

    # proto IPPROTO_TCP, as getaddrinfo would give: asyncio sets TCP_NODELAY
    # only on such sockets (without it, Nagle and delayed ACKs add 40 ms).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    print(f"port {sock.getsockname()[1]}", flush=True)
    app = mcp.streamable_http_app(json_response=json_response, stateless_http=stateless)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    anyio.run(server.serve, [sock])


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["stdio"]:
        mcp.run("stdio")
    elif args[:1] == ["http"] and len(args) >= 2:
        serve_http(int(args[1]), json_response="--json" in args, stateless="--stateless" in args)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
