"""The baseline: a bare Flask app answering the same redirect, nothing else."""

from flask import Flask, redirect

app = Flask(__name__)


@app.get("/<slug>")
def follow(slug: str):
    return redirect("https://example.com/landing-page", code=302)
