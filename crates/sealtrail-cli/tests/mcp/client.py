"""A real MCP client (the `mcp` SDK's Client) for the mcp-proxy tests.

Usage:
    client.py [--mode legacy|auto|2026-07-28] [--calls N] [--sampling] stdio -- COMMAND...
    client.py [--mode ...] [--calls N] [--sampling] http URL

Runs one scripted session and prints a JSON transcript on stdout: every
result as the SDK parsed it, so two runs (direct, through the proxy) can be
compared. With --sampling it also calls `summarize`, which makes the server
ask this client's "model" (a fixed answer). With --calls N it instead calls `add` N times and prints the
per-call latencies in microseconds (the benchmark).
"""

import argparse
import asyncio
import json
import os
import sys
import time

import mcp_types as types
from mcp import Client
from mcp.client.stdio import StdioServerParameters


def dump(result) -> object:
    return result.model_dump(mode="json", by_alias=True, exclude_none=True)


async def sampling(context, params) -> types.CreateMessageResult:
    text = params.messages[0].content.text
    return types.CreateMessageResult(
        role="assistant",
        content=types.TextContent(type="text", text=f"summary of {text}"),
        model="test-model-1",
    )


async def session(client: Client, with_sampling: bool) -> dict:
    out: dict = {"protocol_version": client.protocol_version}
    tools = await client.list_tools()
    out["tools"] = sorted(t.name for t in tools.tools)
    out["add"] = dump(await client.call_tool("add", {"a": 2, "b": 3}))
    out["echo"] = dump(await client.call_tool("echo", {"text": "héllo \"world\"\n"}))
    out["fail"] = dump(await client.call_tool("fail", {"reason": "test"}))
    out["big"] = dump(await client.call_tool("big", {"size": 20000}))
    out["resource"] = dump(await client.read_resource("note://alpha"))
    out["prompt"] = dump(await client.get_prompt("greet", {"name": "Ada"}))
    try:
        out["unknown_tool"] = dump(await client.call_tool("nope", {}))
    except Exception as e:  # the SDK raises on a JSON-RPC error
        out["unknown_tool"] = {"error": type(e).__name__, "message": str(e)}
    if with_sampling:
        out["summarize"] = dump(await client.call_tool("summarize", {"text": "the log"}))
    return out


async def bench(client: Client, calls: int) -> dict:
    for _ in range(min(50, calls)):  # warm-up
        await client.call_tool("add", {"a": 1, "b": 2})
    lat = []
    start = time.perf_counter()
    for i in range(calls):
        t = time.perf_counter()
        await client.call_tool("add", {"a": i, "b": 1})
        lat.append((time.perf_counter() - t) * 1e6)
    total = time.perf_counter() - start
    return {"calls": calls, "seconds": total, "latencies_us": lat}


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--mode", default="legacy")
    p.add_argument("--calls", type=int, default=0)
    p.add_argument("--sampling", action="store_true")
    p.add_argument("transport", choices=["stdio", "http"])
    p.add_argument("target", nargs=argparse.REMAINDER)
    a = p.parse_args()
    target = a.target[1:] if a.target[:1] == ["--"] else a.target
    if a.transport == "stdio":
        # The SDK passes only a safe subset of the environment by default;
        # the proxy needs SEALTRAIL_* as an agent's MCP config would give it.
        server = StdioServerParameters(command=target[0], args=target[1:], env=dict(os.environ))
    else:
        server = target[0]
    callback = sampling if a.sampling else None
    async with Client(server, mode=a.mode, cache=None, sampling_callback=callback) as client:
        result = await (bench(client, a.calls) if a.calls else session(client, a.sampling))
    json.dump(result, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    asyncio.run(main())
