# Install rules and CPack settings for the two packages (docs/PACKAGING.md):
#   ksweep-agent      the (static) agent, its systemd unit, its state folder            component `agent`
#   ksweep-collector  the collector, the `ksweep` CLI, unit, conffile, state folder     component `collector`
# as .deb and .rpm: `cpack -G DEB` / `cpack -G RPM` in the build folder (or `ninja package`).
#
# The version is the one project(VERSION) of the top CMakeLists.txt; KSWEEP_PACKAGE_RELEASE is the package revision
# (rebuild of the same sources). Every rule here is EXCLUDE_FROM_ALL: the packages ask for their component by name,
# while a plain `cmake --install` keeps installing just the binaries (the rules beside each target) and never
# writes /etc or /var.

set(KSWEEP_PACKAGE_RELEASE 1 CACHE STRING "Package revision: -N of the .deb version, Release of the .rpm")
set(KSWEEP_PACKAGE_HOMEPAGE "https://github.com/ksweep/ksweep" CACHE STRING "Homepage in the package metadata")
set(KSWEEP_PACKAGE_CONTACT "ksweep maintainers <ksweep@example.org>" CACHE STRING
    "Maintainer (deb) / Packager (rpm) in the package metadata")

set(_pkg ${PROJECT_SOURCE_DIR}/packaging)

# --- what goes in each package ---------------------------------------------------------------------------------------
install(TARGETS ksweep-agent RUNTIME DESTINATION bin COMPONENT agent EXCLUDE_FROM_ALL)
install(FILES ${_pkg}/systemd/ksweep-agent.service DESTINATION lib/systemd/system COMPONENT agent EXCLUDE_FROM_ALL)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${_pkg}/deb/copyright
        DESTINATION share/doc/ksweep-agent COMPONENT agent EXCLUDE_FROM_ALL)
install(FILES ${_pkg}/lint/ksweep-agent.lintian-overrides DESTINATION share/lintian/overrides
        RENAME ksweep-agent COMPONENT agent EXCLUDE_FROM_ALL)
# The agent's configuration is written by `ksweep-agent configure`, config management or debconf, never shipped: an
# unconfigured agent has no agent.conf (its unit is skipped), and upgrades of thousands of hosts never stop at a
# conffile prompt. The folder is shared with ksweep-collector.
install(DIRECTORY DESTINATION /etc/ksweep COMPONENT agent EXCLUDE_FROM_ALL)
install(DIRECTORY DESTINATION /var/lib/ksweep COMPONENT agent EXCLUDE_FROM_ALL)
install(DIRECTORY DESTINATION /var/lib/ksweep/agent COMPONENT agent EXCLUDE_FROM_ALL
        DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE)

install(TARGETS ksweep-collector ksweep RUNTIME DESTINATION bin COMPONENT collector EXCLUDE_FROM_ALL)
install(FILES ${_pkg}/systemd/ksweep-collector.service DESTINATION lib/systemd/system COMPONENT collector EXCLUDE_FROM_ALL)
install(FILES ${_pkg}/conf/collector.conf DESTINATION /etc/ksweep COMPONENT collector EXCLUDE_FROM_ALL)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/docs/COLLECTOR.md ${_pkg}/deb/copyright
        DESTINATION share/doc/ksweep-collector COMPONENT collector EXCLUDE_FROM_ALL)
install(FILES ${_pkg}/lint/ksweep-collector.lintian-overrides DESTINATION share/lintian/overrides
        RENAME ksweep-collector COMPONENT collector EXCLUDE_FROM_ALL)
install(DIRECTORY DESTINATION /var/lib/ksweep COMPONENT collector EXCLUDE_FROM_ALL)
# Owned by the ksweep user, which the maintainer scripts create: the deb postinst sets owner and mode, the rpm
# file list says them (%attr).
install(DIRECTORY DESTINATION /var/lib/ksweep/collector COMPONENT collector EXCLUDE_FROM_ALL)

# --- metadata shared by both formats ---------------------------------------------------------------------------------
set(CPACK_PACKAGE_NAME ksweep)
set(CPACK_PACKAGE_VENDOR "ksweep")
set(CPACK_PACKAGE_CONTACT "${KSWEEP_PACKAGE_CONTACT}")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_HOMEPAGE_URL "${KSWEEP_PACKAGE_HOMEPAGE}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
# Paths under /etc, /var and /usr/lib/systemd cannot move: not a relocatable rpm.
set(CPACK_PACKAGE_RELOCATABLE OFF)
set(CPACK_GENERATOR DEB RPM)
set(CPACK_COMPONENTS_ALL agent collector)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_RPM_COMPONENT_INSTALL ON)
set(CPACK_PACKAGE_DIRECTORY ${PROJECT_BINARY_DIR}/packages)

set(_agent_summary "Finds Kaspersky software on this host and reports it (ksweep agent)")
set(_agent_body "ksweep-agent inspects a Linux host (package databases, install folders,
services, processes, kernel modules) for Kaspersky products and streams its
findings to a ksweep collector. The binary is linked statically and runs on
any x86-64 Linux distribution. The service starts once
/etc/ksweep/agent.conf exists: ksweep-agent configure --server HOST:PORT")
set(_collector_summary "Fleet view of Kaspersky software (ksweep collector and CLI)")
set(_collector_body "ksweep-collector receives the reports of ksweep agents, stores them in
SQLite with their history and serves the fleet API; ksweep is the command
line client of that API (summary, hosts, events, trends).")

# --- .deb ------------------------------------------------------------------------------------------------------------
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE ${KSWEEP_PACKAGE_RELEASE})
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_AGENT_PACKAGE_NAME ksweep-agent)
set(CPACK_DEBIAN_AGENT_DESCRIPTION "${_agent_summary}\n${_agent_body}")
# Static: no shared library dependencies to compute; debconf only for the preseedable server address.
set(CPACK_DEBIAN_AGENT_PACKAGE_SHLIBDEPS OFF)
# debconf: the collector address can be preseeded (packaging/deb/agent/templates, config).
set(CPACK_DEBIAN_AGENT_PACKAGE_DEPENDS "debconf (>= 0.5) | debconf-2.0")
set(CPACK_DEBIAN_AGENT_PACKAGE_CONTROL_EXTRA
    ${_pkg}/deb/agent/templates ${_pkg}/deb/agent/config ${_pkg}/deb/agent/postinst ${_pkg}/deb/agent/prerm
    ${_pkg}/deb/agent/postrm)
set(CPACK_DEBIAN_COLLECTOR_PACKAGE_NAME ksweep-collector)
set(CPACK_DEBIAN_COLLECTOR_DESCRIPTION "${_collector_summary}\n${_collector_body}")
set(CPACK_DEBIAN_COLLECTOR_PACKAGE_SHLIBDEPS ON)
# useradd for the service user.
set(CPACK_DEBIAN_COLLECTOR_PACKAGE_DEPENDS passwd)
set(CPACK_DEBIAN_COLLECTOR_PACKAGE_CONTROL_EXTRA
    ${_pkg}/deb/collector/conffiles ${_pkg}/deb/collector/postinst ${_pkg}/deb/collector/prerm
    ${_pkg}/deb/collector/postrm)

# --- .rpm ------------------------------------------------------------------------------------------------------------
set(CPACK_RPM_FILE_NAME RPM-DEFAULT)
set(CPACK_RPM_PACKAGE_RELEASE ${KSWEEP_PACKAGE_RELEASE})
set(CPACK_RPM_PACKAGE_LICENSE "Apache-2.0")
set(CPACK_RPM_PACKAGE_GROUP "Applications/System")
set(CPACK_RPM_PACKAGE_URL "${KSWEEP_PACKAGE_HOMEPAGE}")
# rpmbuild fills the Packager tag from this macro.
set(CPACK_RPM_SPEC_MORE_DEFINE "%define packager ${KSWEEP_PACKAGE_CONTACT}")
# Folders other packages own (filesystem, systemd): listing them would make us co-own them.
set(CPACK_RPM_EXCLUDE_FROM_AUTO_FILELIST_ADDITION
    /usr/lib/systemd /usr/lib/systemd/system /usr/share/doc /usr/share/lintian /usr/share/lintian/overrides
    /var /var/lib)
set(CPACK_RPM_AGENT_PACKAGE_NAME ksweep-agent)
set(CPACK_RPM_AGENT_PACKAGE_SUMMARY "${_agent_summary}")
set(CPACK_RPM_AGENT_PACKAGE_DESCRIPTION "${_agent_body}")
set(CPACK_RPM_AGENT_USER_FILELIST
    "%dir %attr(0700,root,root) /var/lib/ksweep/agent"
    "%doc /usr/share/doc/ksweep-agent/README.md"
    "%license /usr/share/doc/ksweep-agent/copyright"
    "%exclude /usr/share/lintian/overrides/ksweep-agent")
set(CPACK_RPM_AGENT_POST_INSTALL_SCRIPT_FILE ${_pkg}/rpm/agent/post)
set(CPACK_RPM_AGENT_PRE_UNINSTALL_SCRIPT_FILE ${_pkg}/rpm/agent/preun)
set(CPACK_RPM_AGENT_POST_UNINSTALL_SCRIPT_FILE ${_pkg}/rpm/agent/postun)
set(CPACK_RPM_COLLECTOR_PACKAGE_NAME ksweep-collector)
set(CPACK_RPM_COLLECTOR_PACKAGE_SUMMARY "${_collector_summary}")
set(CPACK_RPM_COLLECTOR_PACKAGE_DESCRIPTION "${_collector_body}")
# A file, not a package name: shadow-utils on Red Hat, shadow on SUSE.
set(CPACK_RPM_COLLECTOR_PACKAGE_REQUIRES_PRE "/usr/sbin/useradd")
set(CPACK_RPM_COLLECTOR_USER_FILELIST
    "%config(noreplace) /etc/ksweep/collector.conf"
    "%dir %attr(0750,ksweep,ksweep) /var/lib/ksweep/collector"
    "%doc /usr/share/doc/ksweep-collector/README.md"
    "%doc /usr/share/doc/ksweep-collector/COLLECTOR.md"
    "%license /usr/share/doc/ksweep-collector/copyright"
    "%exclude /usr/share/lintian/overrides/ksweep-collector")
set(CPACK_RPM_COLLECTOR_PRE_INSTALL_SCRIPT_FILE ${_pkg}/rpm/collector/pre)
set(CPACK_RPM_COLLECTOR_POST_INSTALL_SCRIPT_FILE ${_pkg}/rpm/collector/post)
set(CPACK_RPM_COLLECTOR_PRE_UNINSTALL_SCRIPT_FILE ${_pkg}/rpm/collector/preun)
set(CPACK_RPM_COLLECTOR_POST_UNINSTALL_SCRIPT_FILE ${_pkg}/rpm/collector/postun)

include(CPack)
