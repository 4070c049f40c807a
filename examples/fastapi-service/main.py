"""A small ASGI service (FastAPI on uvicorn) for globalguide: it greets the caller by the
city the load balancer put in X-Client-Geo-Location and names the region that served it."""

import os

import uvicorn
from fastapi import FastAPI, Request, Response

REGION = os.environ.get("SERVICE_REGION", "unknown")
app = FastAPI()


def location(request: Request) -> dict:
    raw = request.headers.get("x-client-geo-location", "")[:512]
    # Header values arrive decoded as latin-1; the load balancer writes UTF-8.
    text = raw.encode("latin-1", errors="replace").decode("utf-8", errors="replace")
    city, _, rest = text.partition(",")
    subdivision, _, country = rest.partition(",")
    return {"city": city.strip() or None, "country": country.strip() or None}


@app.get("/")
def hello(request: Request, response: Response) -> dict:
    response.headers["X-Served-Region"] = REGION
    where = location(request)
    return {"greeting": f"Hello, {where['city'] or 'traveller'}!", "region": REGION, **where}


if __name__ == "__main__":
    uvicorn.run(
        app,
        host=os.environ.get("BIND_HOST", "0.0.0.0"),
        port=int(os.environ.get("PORT", "8080")),
        log_level="warning",
    )
