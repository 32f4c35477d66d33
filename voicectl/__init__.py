"""voicectl: run and test a Hebrew-speaking Twilio phone agent that books appointments."""

__version__ = "0.1.0"
