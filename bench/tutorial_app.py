"""The reference tutorial's Local Guide app, reproduced for the cold-start benchmark.

This is the app the project improves on, kept as the tutorial has it: the deprecated
``vertexai.generative_models`` SDK, ``vertexai.init`` with the project only (so Vertex AI in
us-central1), a model object built per request, the raw header pasted into the prompt,
exception text returned to the client, and the Flask development server in debug mode,
started with ``python tutorial_app.py``. Do not deploy it.

The one addition: when ``TUTORIAL_VERTEX_ENDPOINT`` is set (by bench/service_bench.py), the SDK
is pointed at that local fake Gemini over REST with a static token, since the benchmark
never leaves the machine. Everything on the start path is otherwise the tutorial's.
"""

import os

import vertexai
from flask import Flask, jsonify, request
from vertexai.generative_models import GenerativeModel

app = Flask(__name__)

PROJECT_ID = os.environ.get("GOOGLE_CLOUD_PROJECT")
_endpoint = os.environ.get("TUTORIAL_VERTEX_ENDPOINT")
if _endpoint:
    from google.oauth2.credentials import Credentials

    vertexai.init(
        project=PROJECT_ID,
        api_endpoint=_endpoint,
        api_transport="rest",
        credentials=Credentials(token="bench"),
    )
else:
    vertexai.init(project=PROJECT_ID)


@app.route("/", methods=["GET", "POST"])
def generate():
    service_region = os.environ.get("SERVICE_REGION", "unknown-region")
    user_location = request.headers.get("X-Client-Geo-Location", "Unknown Location")

    model = GenerativeModel("gemini-2.5-flash")

    prompt = (
        f"You are a helpful local guide. The user is currently in {user_location}. "
        "Greet them warmly mentioning their city, and suggest one "
        "hidden gem activity to do nearby right now. Keep it under 50 words."
    )

    try:
        response = model.generate_content(prompt)
        return jsonify(
            {
                "ai_response": response.text,
                "meta": {
                    "served_from_region": service_region,
                    "user_detected_location": user_location,
                },
            }
        )
    except Exception as e:
        return jsonify({"error": str(e)}), 500


if __name__ == "__main__":
    # TUTORIAL_HOST: the benchmark binds loopback only; the tutorial binds 0.0.0.0.
    host = os.environ.get("TUTORIAL_HOST", "0.0.0.0")
    app.run(debug=True, host=host, port=int(os.environ.get("PORT", 8080)))
