# zonal-operator/web: the small web server the kind end-to-end run gives examples/zonalworkload.yaml
# (its readiness probe is an httpGet of / on port 80): Python's http.server, which logs each
# request it serves, so the probes can be seen in the container's log.
ARG PYTHON_IMAGE
FROM ${PYTHON_IMAGE}
RUN mkdir -p /srv/www && echo 'zonal-operator web' > /srv/www/index.html
WORKDIR /srv/www
EXPOSE 80
ENTRYPOINT ["python3", "-m", "http.server", "80"]
