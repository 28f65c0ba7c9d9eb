FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY feed ./feed
COPY workers ./workers
COPY web ./web
RUN pip install --no-cache-dir . && useradd --system newsfeed
USER newsfeed
EXPOSE 8000
CMD ["newsfeed", "web", "--host", "0.0.0.0", "--port", "8000"]
