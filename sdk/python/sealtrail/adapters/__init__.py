"""Adapters that record agent frameworks' steps as sealtrail events:
``functions`` (decorator / context manager, no dependencies),
``openai_agents`` (OpenAI Agents SDK TracingProcessor),
``langchain`` (LangChain callback handler)."""
