"""The red-team suite: attack cases and benign questions through the whole agent, with its guards."""
