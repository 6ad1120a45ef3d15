// The Vercel AI SDK's own client (npm `ai`) consuming a turn from `islet serve`:
// DefaultChatTransport sends what `useChat` sends and parses the UI message stream;
// readUIMessageStream assembles the assistant message a UI would render.
// Usage: node ai_sdk_chat.mjs CHAT_URL TOKEN  → prints the final UIMessage as JSON.
import { DefaultChatTransport, readUIMessageStream } from "ai";

const [url, token] = process.argv.slice(2);
const transport = new DefaultChatTransport({
  api: url,
  headers: { Authorization: `Bearer ${token}` },
});
const stream = await transport.sendMessages({
  chatId: "chat-ai-sdk",
  trigger: "submit-message",
  messageId: undefined,
  abortSignal: undefined,
  messages: [
    { id: "m1", role: "user", parts: [{ type: "text", text: "Write hello.txt, then tell me." }] },
  ],
});
let message;
for await (const m of readUIMessageStream({
  stream,
  onError: (e) => {
    throw e;
  },
})) {
  message = m;
}
console.log(JSON.stringify(message));
