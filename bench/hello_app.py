"""The bare Flask "hello" app the service is compared with, under the same gunicorn settings."""

from flask import Flask

app = Flask(__name__)


@app.route("/", methods=["GET", "POST"])
def hello() -> str:
    return "Hello, World!"
