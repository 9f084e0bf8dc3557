# The kind node image for offline clusters (hack/kind/images.sh builds it; context prepared there).
# Debian's systemd, containerd 1.6 and runc, CNI plugins; kubelet, kubeadm, kubectl, crictl built
# from the Go module proxy; kind's own entrypoint and systemd units read from the kind module;
# the control-plane images preloaded from /kind/images by zonal-preload-images.service.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      systemd systemd-sysv dbus containerd runc containernetworking-plugins \
      iptables nftables iproute2 conntrack socat ethtool kmod util-linux mount procps \
      ca-certificates bash \
 && rm -rf /var/lib/apt/lists/* \
 && find /lib/systemd/system/sysinit.target.wants/ -name systemd-tmpfiles-setup.service -delete \
 && rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \
      /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \
      /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/* \
 && echo "ReadKMsg=no" >> /etc/systemd/journald.conf \
 && mkdir -p /opt/cni/bin /etc/cni/net.d /etc/kubernetes/manifests
# kind's entrypoint, helper scripts and systemd units (from images/base/files of the kind module).
COPY kind-files/ /
COPY bin/ /usr/bin/
COPY containerd-config.toml /etc/containerd/config.toml
COPY zonal-preload-images.service /etc/systemd/system/
COPY images/ /kind/images/
COPY version /kind/version
# Debian's containerd lives in /usr/bin (kind's unit expects /usr/local/bin); kind starts the
# kubelet itself.
RUN sed -i 's|/usr/local/bin/containerd|/usr/bin/containerd|' /etc/systemd/system/containerd.service \
 && chmod 0755 /usr/local/bin/* /kind/bin/* /usr/bin/kubelet /usr/bin/kubeadm /usr/bin/kubectl /usr/bin/crictl \
 && systemctl enable containerd.service undo-mount-hacks.service zonal-preload-images.service \
 && systemctl enable kubelet.service \
 && systemctl mask systemd-binfmt.service \
 && ln -sf /usr/lib/systemd/systemd /sbin/init
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]
