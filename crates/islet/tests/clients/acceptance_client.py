"""Issue 4's acceptance, as a user runs it: `islet mcp proxy examples/mcp.json` over stdio,
driven by the official Python MCP SDK from the repository root. Prints one JSON object.

Usage: acceptance_client.py ISLET_BIN
"""

import asyncio
import json
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

# One program touching all four servers.
CODE = r"""async () => {
  const allowed = await fs.list_allowed_directories({});
  // The filesystem server answers with text or with structured content, by version.
  const root = (typeof allowed === 'string' ? allowed : JSON.stringify(allowed)).match(/\/[^"\n]*/)[0].trim();
  const [readme, log, echo] = await Promise.all([
    fs.read_text_file({ path: root + '/README.md', head: 1 }),
    git.git_log({ repo_path: root, max_count: 1 }),
    everything.echo({ message: 'from islet' }),
  ]);
  await memory.create_entities({ entities: [{ name: 'islet', entityType: 'project', observations: ['acceptance'] }] });
  const graph = await memory.read_graph({});
  const text = (v) => typeof v === 'string' ? v : JSON.stringify(v);
  return {
    readme: text(readme).includes('# islet'),
    git: text(log).toLowerCase().includes('commit'),
    everything: text(echo).includes('from islet'),
    memory: graph.entities.some((e) => e.name === 'islet'),
  };
}"""


def text_of(result):
    return "".join(block.text for block in result.content if getattr(block, "type", "") == "text")


async def main(islet):
    params = StdioServerParameters(command=islet, args=["mcp", "proxy", "examples/mcp.json"], env=dict(os.environ))
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = await session.list_tools()
            execute = await session.call_tool("execute", {"code": CODE})
            print(json.dumps({
                "tools": [t.name for t in tools.tools],
                "execute": text_of(execute),
                "is_error": bool(execute.is_error),
            }))


asyncio.run(main(sys.argv[1]))
