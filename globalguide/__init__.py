"""globalguide: one generative-AI service on every continent behind one anycast IP."""

__version__ = "0.1.0"
