"""Drives `islet mcp proxy` with the official Python MCP SDK and prints one JSON object of
what it saw, for crates/islet/tests/it/proxy.rs to assert on.

Usage:
  proxy_client.py stdio ISLET_BIN ARG...    spawn the proxy and talk over stdio
  proxy_client.py http URL                  connect to a running proxy over streamable HTTP
"""

import asyncio
import json
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

EXECUTE = {
    "code": """async () => {
  const [a, b] = await Promise.all([alpha.pid({}), beta.pid({})]);
  const echoes = await Promise.all([1, 2, 3].map(i => beta.echo({ text: "hi " + i })));
  return { pids: [a, b], echoes };
}"""
}


def text_of(result):
    return "".join(block.text for block in result.content if getattr(block, "type", "") == "text")


async def exercise(session):
    await session.initialize()
    tools = await session.list_tools()
    search = await session.call_tool("search", {"query": "echo text"})
    execute = await session.call_tool("execute", EXECUTE)
    return {
        "tools": [t.name for t in tools.tools],
        "search": text_of(search),
        "execute": {"text": text_of(execute), "is_error": bool(execute.is_error)},
    }


async def over_stdio(command, args):
    params = StdioServerParameters(command=command, args=args, env=dict(os.environ))
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            return await exercise(session)


async def over_http(url):
    async with streamable_http_client(url) as (read, write):
        async with ClientSession(read, write) as session:
            return await exercise(session)


def main():
    mode = sys.argv[1]
    if mode == "stdio":
        report = asyncio.run(over_stdio(sys.argv[2], sys.argv[3:]))
    elif mode == "http":
        report = asyncio.run(over_http(sys.argv[2]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
