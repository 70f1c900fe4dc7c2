"""The clinical reasoning agent: a LangGraph graph over guideline and patient evidence."""
