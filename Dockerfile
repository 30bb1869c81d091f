# The one flinc image: operator, JobManager, TaskManager and `flinc run --local`.
#   docker build -t flinc:<version> .     (<version>: project() in CMakeLists.txt)
# Needs only Docker and Debian's archive; no other registry.

# ---- build: compilers and -dev packages, never shipped ----------------------
FROM debian:bookworm-slim AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config \
      libnng-dev libmbedtls-dev libcjson-dev libyaml-dev liblmdb-dev libcurl4-openssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF -DFLINC_BUILD_BENCH=OFF \
 && cmake --build /build -j"$(nproc)" \
 && cmake --install /build --prefix /opt/flinc \
 && mkdir -p /opt/flinc/usrlib \
 && for so in /opt/flinc/share/flinc/examples/*.so; do \
      if [ -e "$so" ]; then cp "$so" /opt/flinc/usrlib/; fi; \
    done

# ---- runtime: shared libraries only ------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libnng1 libmbedcrypto7 libcjson1 libyaml-0-2 liblmdb0 libcurl4 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 9999 --user-group --create-home --home-dir /home/flinc \
      --shell /usr/sbin/nologin flinc
COPY --from=build /opt/flinc /opt/flinc
# The install carries no RPATH: let the loader find libflinc.so.
RUN echo /opt/flinc/lib > /etc/ld.so.conf.d/flinc.conf && ldconfig
ENV PATH=/opt/flinc/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WORKDIR /home/flinc
# Numeric, so Kubernetes' runAsNonRoot can verify it.
USER 9999:9999
CMD ["flinc", "--help"]
