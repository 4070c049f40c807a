"""The service's floor: a minimal Flask app that builds one google-genai client at import and
calls ``generate_content`` on each request, under the service's gunicorn settings.

It does what any Gemini-backed endpoint must (one model call, one JSON answer) and nothing
else: no location parsing, no log line, no request id, no security headers. It asks the
model what the service asks (the same system instruction, model and request config, a
prompt of the same shape) and reaches the benchmark's fake Gemini the way the service does
(``GEMINI_BASE_URL``, a static token).
"""

import os

from flask import Flask, jsonify
from google import genai
from google.genai import types
from google.oauth2.credentials import Credentials

from service.guide import SYSTEM_INSTRUCTION

client = genai.Client(
    vertexai=True,
    project=os.environ["GOOGLE_CLOUD_PROJECT"],
    location="global",
    credentials=Credentials(token="bench"),  # noqa: S106 - the local fake checks no token
    http_options=types.HttpOptions(base_url=os.environ["GEMINI_BASE_URL"], timeout=20000),
)
config = types.GenerateContentConfig(
    system_instruction=SYSTEM_INSTRUCTION,
    max_output_tokens=1024,
    temperature=0.7,
    thinking_config=types.ThinkingConfig(thinking_level="MINIMAL"),
)
PROMPT = '{"location": {"city": "Paris", "subdivision": "FRIDF", "country": "FR"}}'
app = Flask(__name__)


@app.route("/", methods=["GET", "POST"])
def answer():
    response = client.models.generate_content(
        model="gemini-3.8-flash", contents=PROMPT, config=config
    )
    return jsonify({"ai_response": response.text})
