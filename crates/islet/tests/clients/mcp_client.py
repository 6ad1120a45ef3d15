"""Drives an islet Code Mode MCP server with the official Python MCP SDK and prints one
JSON object describing what it saw, for crates/islet/tests/it/mcp.rs to assert on.

Usage:
  mcp_client.py stdio ISLET_BIN ARG...      spawn the server and talk over stdio
  mcp_client.py http URL [TOKEN]            connect to a running server over streamable HTTP
"""

import asyncio
import json
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

SEARCH = {"query": "get a repository", "limit": 3}
EXECUTE = {
    "code": """async () => {
  const repo = await api.repos.get({ owner: "octo", repo: "hello" });
  const issues = await api.issues.listForRepo({ owner: "octo", repo: "hello" });
  console.log("issues:", issues.length);
  return { name: repo.full_name, open: issues.filter(i => i.state === "open").length, auth: repo.echo_auth };
}"""
}
MISSPELLED = {"code": "async () => await api.repos.gett({ owner: 'octo', repo: 'hello' })"}


def text_of(result):
    return "".join(block.text for block in result.content if getattr(block, "type", "") == "text")


async def exercise(session):
    await session.initialize()
    tools = await session.list_tools()
    search = await session.call_tool("search", SEARCH)
    execute = await session.call_tool("execute", EXECUTE)
    misspelled = await session.call_tool("execute", MISSPELLED)
    spec_search = await session.call_tool(
        "search", {"code": "async () => Object.keys(spec.paths).filter(p => p.startsWith('/repos/{owner}/{repo}')).length"}
    )
    return {
        "tools": [t.name for t in tools.tools],
        "search": {"text": text_of(search), "is_error": bool(search.is_error)},
        "execute": {"text": text_of(execute), "is_error": bool(execute.is_error)},
        "misspelled": {"text": text_of(misspelled), "is_error": bool(misspelled.is_error)},
        "spec_search": {"text": text_of(spec_search), "is_error": bool(spec_search.is_error)},
    }


async def over_stdio(command, args):
    # The SDK passes the child only a few safe variables; the server reads its token from
    # the environment (--bearer-env), so hand it the whole environment.
    params = StdioServerParameters(command=command, args=args, env=dict(os.environ))
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            return await exercise(session)


async def over_http(url, token):
    headers = {"Authorization": f"Bearer {token}"} if token else None
    async with create_mcp_http_client(headers=headers) as client:
        async with streamable_http_client(url, http_client=client) as (read, write):
            async with ClientSession(read, write) as session:
                return await exercise(session)


def main():
    mode = sys.argv[1]
    if mode == "stdio":
        report = asyncio.run(over_stdio(sys.argv[2], sys.argv[3:]))
    elif mode == "http":
        report = asyncio.run(over_http(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None))
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
