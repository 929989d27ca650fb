"""The AI triad: the planner, executor and evaluator agents, on pydantic-ai.

Nothing here is imported unless a model is configured (``model`` is not ``rules``): the
runtime builds the agents with :func:`triadops.agents.wiring.build`. Each agent sits behind
a seam of ``triadops.constitution.advisors`` and can only tighten what the rules decided.
"""
