# A Python image on the local Debian base, for the operator image's PYTHON_IMAGE where no registry
# is reachable (users get the official python image). Debian bookworm's Python is 3.11.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
# The build machine's own extra CA certificates (/usr/local/share/ca-certificates, e.g. of a
# TLS-inspecting proxy in front of PyPI), so that pip trusts what the machine trusts.
COPY ca-certificates/ /usr/local/share/ca-certificates/
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      python3 python3-venv python3-pip ca-certificates passwd \
 && rm -rf /var/lib/apt/lists/* \
 && update-ca-certificates >/dev/null \
 && ln -s /usr/bin/python3 /usr/local/bin/python
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt
CMD ["python3"]
