# Tandem container image: multi-stage; the runtime stage holds only production dependencies and the
# compiled gateway, runs as the unprivileged `node` user, and reports health from the listener port.
# Build: docker build -t tandem .   Run: docker run -p 8080:8080 -v $PWD/my.yaml:/etc/tandem/tandem.yaml tandem

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the image already has Node 24, so the node@24 devDependency's installer is not needed.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json

FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts

FROM node:24-bookworm-slim
ENV NODE_ENV=production \
    TANDEM_CONFIG=/etc/tandem/tandem.yaml
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# The embedded default config listens on 127.0.0.1; in a container the listener must bind 0.0.0.0:
# mount your own config at /etc/tandem/tandem.yaml.
COPY config/tandem.yaml /etc/tandem/tandem.yaml
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["node", "-e", "require('node:net').connect(8080,'127.0.0.1').on('connect',function(){this.end();process.exit(0)}).on('error',()=>process.exit(1))"]
STOPSIGNAL SIGTERM
# Tandem's V8 flags (src/node-flags.ts): a capped young generation keeps memory flat under streamed bodies.
ENTRYPOINT ["node", "--max-semi-space-size=4", "dist/cli.js"]
CMD ["start"]
