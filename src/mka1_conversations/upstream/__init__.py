"""The model server wing: Responses turns as OpenAI Chat Completions calls to any compatible
server (vLLM, SGLang, Ollama, llama.cpp, LM Studio, OpenAI), whole or streamed."""
