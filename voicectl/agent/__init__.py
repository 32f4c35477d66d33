"""Agents: the shared contract (`base`), the offline Hebrew agent and the OpenAI agent.

Which agent serves a process is decided by the provider registry (`voicectl.providers`),
built once per process (SEEDS.md seed 002 B: one agent instance, never per turn).
"""
