"""openai-realtime-ws: a fast, typed client for the OpenAI Realtime API over WebSocket."""
