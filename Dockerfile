# imagetrust: the node agent and the ledger server in one image.
#   docker build -t imagetrust .
#   agent (default):  docker run ... -v /etc/imagetrust:/run/secrets/imagetrust:ro \
#                       -e IMAGETRUST_TOKEN_FILE=/run/secrets/imagetrust/token \
#                       -e IMAGETRUST_TLS_CERT=/run/secrets/imagetrust/tls.crt -e IMAGETRUST_TLS_KEY=/run/secrets/imagetrust/tls.key \
#                       imagetrust agent --listen 0.0.0.0:9581 --ledger https://ledger:9580 --signer KEYID
#   ledger:           docker run ... imagetrust ledger serve --host 0.0.0.0 --port 9580 --allow-signer KEYID \
#                       --tls-cert /run/secrets/imagetrust/tls.crt --tls-key /run/secrets/imagetrust/tls.key
# Secrets never go on the command line (every local user reads it with `ps`): tokens, passwords
# and keys come from files (mode 0600, owned by the user the process runs as; a file others can
# read is refused) or from the environment. `docker kill -s HUP` reloads renewed certificates.

# ---- build: compile pkg/ into build/, then drop the dev dependencies ----
FROM node:20-bookworm-slim AS build
# better-sqlite3 builds natively when no prebuilt binary fits.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig*.json ./
COPY pkg/ pkg/
COPY bin/ bin/
RUN npm run build:pkg \
 && npm prune --omit=dev

# ---- runtime ----
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/build ./build
COPY --from=build /app/bin ./bin
COPY --from=build /app/package.json ./package.json
# Keys, the ledger ($IMAGETRUST_HOME/ledger.db) and the agent's history live here.
ENV IMAGETRUST_HOME=/data
# Two malloc arenas instead of one per thread: about 7 MB less RSS for the agent.
ENV MALLOC_ARENA_MAX=2
VOLUME /data
# 9581: agent API and /metrics; 9580: `ledger serve`; 9583: `fleet serve`.
EXPOSE 9581 9580 9583
# The agent reads the Docker engine through its socket, mounted read-only
# (-v /var/run/docker.sock:/var/run/docker.sock:ro). A read-only mount does not restrict the
# Docker API; the agent's own client does: it refuses every request that is not a GET.
# It runs as root only so that it can open the socket (root:docker, mode 660, on most hosts).
ENTRYPOINT ["node", "--max-semi-space-size=1", "/app/bin/imagetrust.js"]
CMD ["agent", "--listen", "0.0.0.0:9581"]
