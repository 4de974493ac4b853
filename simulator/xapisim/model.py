"""The part of the XAPI datamodel the simulator serves.

Each class is a table of fields: name, qualifier (RW, RO/runtime, RO/constructor) and the
datamodel's type string.  The implicit messages (get_record, get_<field>, set_<RW field>,
add_to_/remove_from_ for maps, add_/remove_ for sets, get_all, get_all_records, get_by_uuid,
get_by_name_label) are generated from these tables in `xapisim.api.implicit`.
Types and names follow the published datamodel exactly; the fidelity test checks that.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

NULL_REF = "OpaqueRef:NULL"


class DateTime(str):
    """A datetime as XAPI writes it (`20240101T00:00:00Z`): dateTime.iso8601 in XML-RPC,
    a plain string in JSON-RPC."""

    @classmethod
    def at(cls, epoch: float) -> "DateTime":
        return cls(time.strftime("%Y%m%dT%H:%M:%SZ", time.gmtime(epoch)))


@dataclass(frozen=True)
class Field:
    name: str
    qualifier: str
    type: str

    @property
    def writable(self) -> bool:
        return self.qualifier == "RW"

    @property
    def ref_class(self) -> str | None:
        """The class a `X ref` field points at."""
        return self.type[:-4] if self.type.endswith(" ref") else None


# Enum values in canonical case, as XAPI writes them on the wire.  The first value of each tuple
# is the default for a new object; the fidelity test checks every value against the datamodel.
ENUMS: dict[str, tuple[str, ...]] = {
    "vm_power_state": ("Halted", "Paused", "Running", "Suspended"),
    "task_status_type": ("pending", "success", "failure", "cancelling", "cancelled"),
    "ip_configuration_mode": ("None", "DHCP", "Static"),
    "ipv6_configuration_mode": ("None", "DHCP", "Static", "Autoconf"),
    "primary_address_type": ("IPv4", "IPv6"),
    "bond_mode": ("balance-slb", "active-backup", "lacp"),
    "task_allowed_operations": ("cancel", "destroy"),
    "pool_allowed_operations": (
        "ha_enable", "ha_disable", "cluster_create", "designate_new_master",
        "configure_repositories", "sync_updates", "get_updates", "apply_updates",
        "tls_verification_enable", "cert_refresh", "exchange_certificates_on_join",
        "exchange_ca_certificates_on_join", "copy_primary_host_certs", "eject",
    ),
    "host_allowed_operations": (
        "provision", "evacuate", "shutdown", "reboot", "power_on", "vm_start", "vm_resume",
        "vm_migrate", "apply_updates", "enable",
    ),
    "host_display": ("enabled", "disable_on_reboot", "disabled", "enable_on_reboot"),
    "update_guidances": (
        "reboot_host", "reboot_host_on_livepatch_failure",
        "reboot_host_on_kernel_livepatch_failure", "reboot_host_on_xen_livepatch_failure",
        "restart_toolstack", "restart_device_model", "restart_vm",
    ),
    "update_after_apply_guidance": ("restartHVM", "restartPV", "restartHost", "restartXAPI"),
    "vm_operations": (
        "snapshot", "clone", "copy", "create_template", "revert", "checkpoint",
        "snapshot_with_quiesce", "provision", "start", "start_on", "pause", "unpause",
        "clean_shutdown", "clean_reboot", "hard_shutdown", "power_state_reset", "hard_reboot",
        "suspend", "csvm", "resume", "resume_on", "pool_migrate", "migrate_send", "get_boot_record",
        "send_sysrq", "send_trigger", "query_services", "shutdown", "call_plugin",
        "changing_memory_live", "awaiting_memory_live", "changing_dynamic_range",
        "changing_static_range", "changing_memory_limits", "changing_shadow_memory",
        "changing_shadow_memory_live", "changing_VCPUs", "changing_VCPUs_live", "changing_NVRAM",
        "assert_operation_valid", "data_source_op", "update_allowed_operations",
        "make_into_template", "import", "export", "metadata_export", "reverting", "destroy",
        "create_vtpm",
    ),
    "on_normal_exit": ("destroy", "restart"),
    "on_crash_behaviour": (
        "destroy", "coredump_and_destroy", "restart", "coredump_and_restart", "preserve",
        "rename_restart",
    ),
    "domain_type": ("unspecified", "hvm", "pv", "pv_in_pvh", "pvh"),
    "vbd_operations": (
        "attach", "eject", "insert", "plug", "unplug", "unplug_force", "pause", "unpause",
    ),
    "vbd_mode": ("RW", "RO"),
    "vbd_type": ("Disk", "CD", "Floppy"),
    "vdi_operations": (
        "clone", "copy", "resize", "resize_online", "snapshot", "mirror", "destroy", "forget",
        "update", "force_unlock", "generate_config", "enable_cbt", "disable_cbt", "data_destroy",
        "list_changed_blocks", "set_on_boot", "blocked",
    ),
    "vdi_type": (
        "user", "system", "ephemeral", "suspend", "crashdump", "ha_statefile", "metadata",
        "redo_log", "rrd", "pvs_cache", "cbt_metadata",
    ),
    "on_boot": ("persist", "reset"),
    "storage_operations": (
        "scan", "destroy", "forget", "plug", "unplug", "update", "vdi_create", "vdi_introduce",
        "vdi_destroy", "vdi_resize", "vdi_clone", "vdi_snapshot", "vdi_mirror", "vdi_enable_cbt",
        "vdi_disable_cbt", "vdi_data_destroy", "vdi_list_changed_blocks", "vdi_set_on_boot",
        "pbd_create", "pbd_destroy",
    ),
    "network_operations": ("attaching",),
    "network_default_locking_mode": ("unlocked", "disabled"),
    "network_purpose": ("nbd", "insecure_nbd"),
    "pif_igmp_status": ("unknown", "enabled", "disabled"),
    "vif_operations": ("attach", "plug", "unplug"),
    "vif_locking_mode": ("network_default", "locked", "unlocked", "disabled"),
    "tunnel_protocol": ("gre", "vxlan"),
    "sriov_configuration_mode": ("unknown", "sysfs", "modprobe", "manual"),
    "cluster_host_operation": ("enable", "disable", "destroy"),
    "cls": ("VM", "Host", "SR", "Pool", "VMPP", "VMSS", "PVS_proxy", "VDI", "Certificate"),
}

# class name -> one "name qualifier type" line per field.  A curated subset of each class:
# removed fields are left out, and so are most deprecated and prototyped ones.
_TABLES: dict[str, str] = {
    "session": """
        uuid                RO/runtime      string
        this_host           RO/runtime      host ref
        this_user           RO/runtime      user ref
        last_active         RO/runtime      datetime
        pool                RO/runtime      bool
        other_config        RW              (string -> string) map
        is_local_superuser  RO/runtime      bool
        subject             RO/runtime      subject ref
        validation_time     RO/runtime      datetime
        auth_user_sid       RO/runtime      string
        auth_user_name      RO/runtime      string
        rbac_permissions    RO/constructor  string set
        tasks               RO/runtime      task ref set
        parent              RO/constructor  session ref
        originator          RO/runtime      string
        client_certificate  RO/runtime      bool
    """,
    "pool": """
        uuid                             RO/runtime      string
        name_label                       RW              string
        name_description                 RW              string
        master                           RO/runtime      host ref
        default_SR                       RW              SR ref
        suspend_image_SR                 RW              SR ref
        crash_dump_SR                    RW              SR ref
        other_config                     RW              (string -> string) map
        ha_enabled                       RO/runtime      bool
        ha_configuration                 RO/runtime      (string -> string) map
        ha_statefiles                    RO/runtime      string set
        ha_host_failures_to_tolerate     RO/runtime      int
        ha_plan_exists_for               RO/runtime      int
        ha_allow_overcommit              RW              bool
        ha_overcommitted                 RO/runtime      bool
        blobs                            RO/runtime      (string -> blob ref) map
        tags                             RW              string set
        gui_config                       RW              (string -> string) map
        health_check_config              RW              (string -> string) map
        wlb_url                          RO/runtime      string
        wlb_username                     RO/runtime      string
        wlb_enabled                      RW              bool
        wlb_verify_cert                  RW              bool
        redo_log_enabled                 RO/runtime      bool
        redo_log_vdi                     RO/runtime      VDI ref
        restrictions                     RO/runtime      (string -> string) map
        metadata_VDIs                    RO/runtime      VDI ref set
        ha_cluster_stack                 RO/runtime      string
        allowed_operations               RO/runtime      enum pool_allowed_operations set
        current_operations               RO/runtime      (string -> enum pool_allowed_operations) map
        guest_agent_config               RO/runtime      (string -> string) map
        cpu_info                         RO/runtime      (string -> string) map
        policy_no_vendor_device          RW              bool
        live_patching_disabled           RW              bool
        igmp_snooping_enabled            RO/runtime      bool
        uefi_certificates                RO/constructor  string
        is_psr_pending                   RW              bool
        tls_verification_enabled         RO/runtime      bool
        repositories                     RO/runtime      Repository ref set
        client_certificate_auth_enabled  RO/runtime      bool
        client_certificate_auth_name     RO/runtime      string
        repository_proxy_url             RO/runtime      string
        repository_proxy_username        RO/runtime      string
        repository_proxy_password        RO/runtime      secret ref
        coordinator_bias                 RW              bool
    """,
    "host": """
        uuid                                RO/runtime      string
        name_label                          RW              string
        name_description                    RW              string
        memory_overhead                     RO/runtime      int
        allowed_operations                  RO/runtime      enum host_allowed_operations set
        current_operations                  RO/runtime      (string -> enum host_allowed_operations) map
        API_version_major                   RO/runtime      int
        API_version_minor                   RO/runtime      int
        API_version_vendor                  RO/runtime      string
        API_version_vendor_implementation   RO/runtime      (string -> string) map
        enabled                             RO/runtime      bool
        software_version                    RO/constructor  (string -> string) map
        other_config                        RW              (string -> string) map
        capabilities                        RO/constructor  string set
        cpu_configuration                   RO/runtime      (string -> string) map
        sched_policy                        RO/runtime      string
        supported_bootloaders               RO/runtime      string set
        resident_VMs                        RO/runtime      VM ref set
        logging                             RW              (string -> string) map
        PIFs                                RO/runtime      PIF ref set
        suspend_image_sr                    RW              SR ref
        crash_dump_sr                       RW              SR ref
        crashdumps                          RO/runtime      host_crashdump ref set
        updates                             RO/runtime      pool_update ref set
        PBDs                                RO/runtime      PBD ref set
        host_CPUs                           RO/runtime      host_cpu ref set
        cpu_info                            RO/runtime      (string -> string) map
        hostname                            RW              string
        address                             RW              string
        metrics                             RO/runtime      host_metrics ref
        license_params                      RO/runtime      (string -> string) map
        ha_statefiles                       RO/runtime      string set
        ha_network_peers                    RO/runtime      string set
        blobs                               RO/runtime      (string -> blob ref) map
        tags                                RW              string set
        external_auth_type                  RO/runtime      string
        external_auth_service_name          RO/runtime      string
        external_auth_configuration         RO/runtime      (string -> string) map
        edition                             RO/runtime      string
        license_server                      RW              (string -> string) map
        bios_strings                        RO/runtime      (string -> string) map
        power_on_mode                       RO/runtime      string
        power_on_config                     RO/runtime      (string -> string) map
        local_cache_sr                      RO/constructor  SR ref
        chipset_info                        RO/runtime      (string -> string) map
        PCIs                                RO/runtime      PCI ref set
        PGPUs                               RO/runtime      PGPU ref set
        PUSBs                               RO/runtime      PUSB ref set
        guest_VCPUs_params                  RW              (string -> string) map
        display                             RW              enum host_display
        virtual_hardware_platform_versions  RO/runtime      int set
        control_domain                      RO/runtime      VM ref
        updates_requiring_reboot            RO/runtime      pool_update ref set
        features                            RO/runtime      Feature ref set
        iscsi_iqn                           RO/constructor  string
        multipathing                        RO/constructor  bool
        certificates                        RO/runtime      Certificate ref set
        editions                            RO/runtime      string set
        pending_guidances                   RO/runtime      enum update_guidances set
        tls_verification_enabled            RO/runtime      bool
        ssl_legacy                          RO/constructor  bool
    """,
    "host_metrics": """
        uuid          RO/runtime      string
        memory_total  RO/runtime      int
        live          RO/runtime      bool
        last_updated  RO/runtime      datetime
        other_config  RW              (string -> string) map
    """,
    "host_cpu": """
        uuid          RO/runtime      string
        host          RO/runtime      host ref
        number        RO/runtime      int
        vendor        RO/runtime      string
        speed         RO/runtime      int
        modelname     RO/runtime      string
        family        RO/runtime      int
        model         RO/runtime      int
        stepping      RO/runtime      string
        flags         RO/runtime      string
        features      RO/runtime      string
        utilisation   RO/runtime      float
        other_config  RW              (string -> string) map
    """,
    "VM": """
        uuid                         RO/runtime      string
        allowed_operations           RO/runtime      enum vm_operations set
        current_operations           RO/runtime      (string -> enum vm_operations) map
        name_label                   RW              string
        name_description             RW              string
        power_state                  RO/constructor  enum vm_power_state
        user_version                 RW              int
        is_a_template                RW              bool
        is_default_template          RO/runtime      bool
        suspend_VDI                  RO/constructor  VDI ref
        resident_on                  RO/runtime      host ref
        scheduled_to_be_resident_on  RO/runtime      host ref
        affinity                     RW              host ref
        memory_overhead              RO/runtime      int
        memory_target                RO/constructor  int
        memory_static_max            RO/constructor  int
        memory_dynamic_max           RO/constructor  int
        memory_dynamic_min           RO/constructor  int
        memory_static_min            RO/constructor  int
        VCPUs_params                 RW              (string -> string) map
        VCPUs_max                    RO/constructor  int
        VCPUs_at_startup             RO/constructor  int
        actions_after_shutdown       RW              enum on_normal_exit
        actions_after_reboot         RW              enum on_normal_exit
        actions_after_crash          RO/constructor  enum on_crash_behaviour
        consoles                     RO/runtime      console ref set
        VIFs                         RO/runtime      VIF ref set
        VBDs                         RO/runtime      VBD ref set
        PV_bootloader                RW              string
        PV_kernel                    RW              string
        PV_ramdisk                   RW              string
        PV_args                      RW              string
        PV_bootloader_args           RW              string
        HVM_boot_policy              RO/constructor  string
        HVM_boot_params              RW              (string -> string) map
        HVM_shadow_multiplier        RO/constructor  float
        platform                     RW              (string -> string) map
        other_config                 RW              (string -> string) map
        domid                        RO/runtime      int
        domarch                      RO/runtime      string
        last_boot_CPU_flags          RO/constructor  (string -> string) map
        is_control_domain            RO/runtime      bool
        metrics                      RO/runtime      VM_metrics ref
        guest_metrics                RO/runtime      VM_guest_metrics ref
        xenstore_data                RW              (string -> string) map
        ha_always_run                RO/constructor  bool
        ha_restart_priority          RO/constructor  string
        is_a_snapshot                RO/runtime      bool
        snapshot_of                  RO/runtime      VM ref
        snapshots                    RO/runtime      VM ref set
        snapshot_time                RO/runtime      datetime
        blobs                        RO/runtime      (string -> blob ref) map
        tags                         RW              string set
        blocked_operations           RW              (enum vm_operations -> string) map
        snapshot_info                RO/runtime      (string -> string) map
        parent                       RO/runtime      VM ref
        children                     RO/runtime      VM ref set
        bios_strings                 RO/runtime      (string -> string) map
        appliance                    RO/constructor  VM_appliance ref
        start_delay                  RO/constructor  int
        shutdown_delay               RO/constructor  int
        order                        RO/constructor  int
        VGPUs                        RO/runtime      VGPU ref set
        attached_PCIs                RO/runtime      PCI ref set
        suspend_SR                   RW              SR ref
        version                      RO/constructor  int
        generation_id                RO/constructor  string
        hardware_platform_version    RW              int
        has_vendor_device            RO/constructor  bool
        requires_reboot              RO/runtime      bool
        reference_label              RO/constructor  string
        domain_type                  RO/constructor  enum domain_type
        NVRAM                        RO/constructor  (string -> string) map
        pending_guidances            RO/runtime      enum update_guidances set
    """,
    "VM_metrics": """
        uuid                 RO/runtime      string
        memory_actual        RO/runtime      int
        VCPUs_number         RO/runtime      int
        VCPUs_CPU            RO/runtime      (int -> int) map
        VCPUs_params         RO/runtime      (string -> string) map
        VCPUs_flags          RO/runtime      (int -> string set) map
        state                RO/runtime      string set
        start_time           RO/runtime      datetime
        install_time         RO/runtime      datetime
        last_updated         RO/runtime      datetime
        other_config         RW              (string -> string) map
        hvm                  RO/runtime      bool
        nested_virt          RO/runtime      bool
        nomigrate            RO/runtime      bool
        current_domain_type  RO/runtime      enum domain_type
    """,
    "VBD": """
        uuid                      RO/runtime      string
        allowed_operations        RO/runtime      enum vbd_operations set
        current_operations        RO/runtime      (string -> enum vbd_operations) map
        VM                        RO/constructor  VM ref
        VDI                       RO/constructor  VDI ref
        device                    RO/constructor  string
        userdevice                RW              string
        bootable                  RW              bool
        mode                      RO/constructor  enum vbd_mode
        type                      RW              enum vbd_type
        unpluggable               RW              bool
        storage_lock              RO/runtime      bool
        empty                     RO/constructor  bool
        other_config              RW              (string -> string) map
        currently_attached        RO/constructor  bool
        status_code               RO/runtime      int
        status_detail             RO/runtime      string
        runtime_properties        RO/runtime      (string -> string) map
        qos_algorithm_type        RW              string
        qos_algorithm_params      RW              (string -> string) map
        qos_supported_algorithms  RO/runtime      string set
    """,
    "VDI": """
        uuid                  RO/runtime      string
        name_label            RO/constructor  string
        name_description      RO/constructor  string
        allowed_operations    RO/runtime      enum vdi_operations set
        current_operations    RO/runtime      (string -> enum vdi_operations) map
        SR                    RO/constructor  SR ref
        VBDs                  RO/runtime      VBD ref set
        crash_dumps           RO/runtime      crashdump ref set
        virtual_size          RO/constructor  int
        physical_utilisation  RO/runtime      int
        type                  RO/constructor  enum vdi_type
        sharable              RO/constructor  bool
        read_only             RO/constructor  bool
        other_config          RW              (string -> string) map
        storage_lock          RO/runtime      bool
        location              RO/runtime      string
        managed               RO/runtime      bool
        missing               RO/runtime      bool
        xenstore_data         RW              (string -> string) map
        sm_config             RW              (string -> string) map
        is_a_snapshot         RO/runtime      bool
        snapshot_of           RO/runtime      VDI ref
        snapshots             RO/runtime      VDI ref set
        snapshot_time         RO/runtime      datetime
        tags                  RW              string set
        allow_caching         RO/runtime      bool
        on_boot               RO/runtime      enum on_boot
        metadata_of_pool      RO/runtime      pool ref
        metadata_latest       RO/runtime      bool
        is_tools_iso          RO/runtime      bool
        cbt_enabled           RO/runtime      bool
    """,
    "SR": """
        uuid                  RO/runtime      string
        name_label            RO/constructor  string
        name_description      RO/constructor  string
        allowed_operations    RO/runtime      enum storage_operations set
        current_operations    RO/runtime      (string -> enum storage_operations) map
        VDIs                  RO/runtime      VDI ref set
        PBDs                  RO/runtime      PBD ref set
        virtual_allocation    RO/runtime      int
        physical_utilisation  RO/runtime      int
        physical_size         RO/constructor  int
        type                  RO/constructor  string
        content_type          RO/constructor  string
        shared                RO/runtime      bool
        other_config          RW              (string -> string) map
        tags                  RW              string set
        sm_config             RW              (string -> string) map
        blobs                 RO/runtime      (string -> blob ref) map
        local_cache_enabled   RO/runtime      bool
        introduced_by         RO/runtime      DR_task ref
        clustered             RO/runtime      bool
        is_tools_sr           RO/runtime      bool
    """,
    "PBD": """
        uuid                RO/runtime      string
        host                RO/constructor  host ref
        SR                  RO/constructor  SR ref
        device_config       RO/constructor  (string -> string) map
        currently_attached  RO/runtime      bool
        other_config        RW              (string -> string) map
    """,
    "SM": """
        uuid                    RO/runtime      string
        name_label              RO/runtime      string
        name_description        RO/runtime      string
        type                    RO/runtime      string
        vendor                  RO/runtime      string
        copyright               RO/runtime      string
        version                 RO/runtime      string
        required_api_version    RO/runtime      string
        configuration           RO/runtime      (string -> string) map
        features                RO/runtime      (string -> int) map
        other_config            RW              (string -> string) map
        driver_filename         RO/runtime      string
        required_cluster_stack  RO/runtime      string set
    """,
    "PIF": """
        uuid                     RO/runtime      string
        device                   RO/constructor  string
        network                  RO/constructor  network ref
        host                     RO/constructor  host ref
        MAC                      RO/constructor  string
        MTU                      RO/constructor  int
        VLAN                     RO/constructor  int
        metrics                  RO/runtime      PIF_metrics ref
        physical                 RO/runtime      bool
        currently_attached       RO/runtime      bool
        ip_configuration_mode    RO/runtime      enum ip_configuration_mode
        IP                       RO/runtime      string
        netmask                  RO/runtime      string
        gateway                  RO/runtime      string
        DNS                      RO/runtime      string
        bond_slave_of            RO/runtime      Bond ref
        bond_master_of           RO/runtime      Bond ref set
        VLAN_master_of           RO/runtime      VLAN ref
        VLAN_slave_of            RO/runtime      VLAN ref set
        management               RO/runtime      bool
        other_config             RW              (string -> string) map
        disallow_unplug          RO/runtime      bool
        tunnel_access_PIF_of     RO/runtime      tunnel ref set
        tunnel_transport_PIF_of  RO/runtime      tunnel ref set
        ipv6_configuration_mode  RO/runtime      enum ipv6_configuration_mode
        IPv6                     RO/runtime      string set
        ipv6_gateway             RO/runtime      string
        primary_address_type     RO/runtime      enum primary_address_type
        managed                  RO/constructor  bool
        properties               RO/runtime      (string -> string) map
        capabilities             RO/runtime      string set
        igmp_snooping_status     RO/runtime      enum pif_igmp_status
        sriov_physical_PIF_of    RO/runtime      network_sriov ref set
        sriov_logical_PIF_of     RO/runtime      network_sriov ref set
        PCI                      RO/runtime      PCI ref
    """,
    "PIF_metrics": """
        uuid          RO/runtime      string
        carrier       RO/runtime      bool
        vendor_id     RO/runtime      string
        vendor_name   RO/runtime      string
        device_id     RO/runtime      string
        device_name   RO/runtime      string
        speed         RO/runtime      int
        duplex        RO/runtime      bool
        pci_bus_path  RO/runtime      string
        last_updated  RO/runtime      datetime
        other_config  RW              (string -> string) map
    """,
    "network": """
        uuid                  RO/runtime      string
        name_label            RW              string
        name_description      RW              string
        allowed_operations    RO/runtime      enum network_operations set
        current_operations    RO/runtime      (string -> enum network_operations) map
        VIFs                  RO/runtime      VIF ref set
        PIFs                  RO/runtime      PIF ref set
        MTU                   RW              int
        other_config          RW              (string -> string) map
        bridge                RO/constructor  string
        managed               RO/constructor  bool
        blobs                 RO/runtime      (string -> blob ref) map
        tags                  RW              string set
        default_locking_mode  RO/runtime      enum network_default_locking_mode
        assigned_ips          RO/runtime      (VIF ref -> string) map
        purpose               RO/runtime      enum network_purpose set
    """,
    "Bond": """
        uuid             RO/runtime      string
        master           RO/constructor  PIF ref
        slaves           RO/runtime      PIF ref set
        other_config     RW              (string -> string) map
        primary_slave    RO/runtime      PIF ref
        mode             RO/runtime      enum bond_mode
        properties       RO/runtime      (string -> string) map
        links_up         RO/runtime      int
        auto_update_mac  RO/runtime      bool
    """,
    "VLAN": """
        uuid          RO/runtime      string
        tagged_PIF    RO/constructor  PIF ref
        untagged_PIF  RO/runtime      PIF ref
        tag           RO/constructor  int
        other_config  RW              (string -> string) map
    """,
    "task": """
        uuid                RO/runtime      string
        name_label          RO/runtime      string
        name_description    RO/runtime      string
        allowed_operations  RO/runtime      enum task_allowed_operations set
        current_operations  RO/runtime      (string -> enum task_allowed_operations) map
        created             RO/runtime      datetime
        finished            RO/runtime      datetime
        status              RO/runtime      enum task_status_type
        resident_on         RO/runtime      host ref
        progress            RO/runtime      float
        type                RO/runtime      string
        result              RO/runtime      string
        error_info          RO/runtime      string set
        other_config        RW              (string -> string) map
        subtask_of          RO/runtime      task ref
        subtasks            RO/runtime      task ref set
        backtrace           RO/runtime      string
    """,
    "secret": """
        uuid          RO/runtime      string
        value         RW              string
        other_config  RW              (string -> string) map
    """,
    "message": """
        uuid       RO/runtime      string
        name       RO/runtime      string
        priority   RO/runtime      int
        cls        RO/runtime      enum cls
        obj_uuid   RO/runtime      string
        timestamp  RO/runtime      datetime
        body       RO/runtime      string
    """,
    "pool_update": """
        uuid                  RO/runtime      string
        name_label            RO/constructor  string
        name_description      RO/constructor  string
        version               RO/constructor  string
        installation_size     RO/constructor  int
        key                   RO/constructor  string
        after_apply_guidance  RO/constructor  enum update_after_apply_guidance set
        vdi                   RO/constructor  VDI ref
        hosts                 RO/runtime      host ref set
        other_config          RW              (string -> string) map
        enforce_homogeneity   RO/constructor  bool
    """,
    "tunnel": """
        uuid           RO/runtime      string
        access_PIF     RO/constructor  PIF ref
        transport_PIF  RO/constructor  PIF ref
        status         RW              (string -> string) map
        other_config   RW              (string -> string) map
        protocol       RW              enum tunnel_protocol
    """,
    "network_sriov": """
        uuid                RO/runtime      string
        physical_PIF        RO/constructor  PIF ref
        logical_PIF         RO/constructor  PIF ref
        requires_reboot     RO/runtime      bool
        configuration_mode  RO/runtime      enum sriov_configuration_mode
    """,
    "Cluster_host": """
        uuid                RO/runtime      string
        cluster             RO/constructor  Cluster ref
        host                RO/constructor  host ref
        enabled             RO/runtime      bool
        PIF                 RO/constructor  PIF ref
        joined              RO/runtime      bool
        allowed_operations  RO/runtime      enum cluster_host_operation set
        current_operations  RO/runtime      (string -> enum cluster_host_operation) map
        other_config        RO/constructor  (string -> string) map
    """,
    "VIF": """
        uuid                RO/runtime      string
        allowed_operations  RO/runtime      enum vif_operations set
        current_operations  RO/runtime      (string -> enum vif_operations) map
        device              RO/constructor  string
        network             RO/constructor  network ref
        VM                  RO/constructor  VM ref
        MAC                 RO/constructor  string
        MTU                 RO/constructor  int
        other_config        RW              (string -> string) map
        currently_attached  RO/constructor  bool
        status_code         RO/runtime      int
        status_detail       RO/runtime      string
        runtime_properties  RO/runtime      (string -> string) map
        MAC_autogenerated   RO/runtime      bool
        locking_mode        RO/constructor  enum vif_locking_mode
        ipv4_allowed        RO/constructor  string set
        ipv6_allowed        RO/constructor  string set
    """,
    "PCI": """
        uuid                   RO/runtime      string
        class_name             RO/constructor  string
        vendor_name            RO/constructor  string
        device_name            RO/constructor  string
        host                   RO/constructor  host ref
        pci_id                 RO/constructor  string
        dependencies           RO/runtime      PCI ref set
        other_config           RW              (string -> string) map
        subsystem_vendor_name  RO/constructor  string
        subsystem_device_name  RO/constructor  string
        driver_name            RO/constructor  string
    """,
    "VGPU": """
        uuid                         RO/runtime      string
        VM                           RO/runtime      VM ref
        GPU_group                    RO/runtime      GPU_group ref
        device                       RO/runtime      string
        currently_attached           RO/runtime      bool
        other_config                 RW              (string -> string) map
        type                         RO/runtime      VGPU_type ref
        resident_on                  RO/runtime      PGPU ref
        scheduled_to_be_resident_on  RO/runtime      PGPU ref
        compatibility_metadata       RO/runtime      (string -> string) map
        extra_args                   RW              string
        PCI                          RO/runtime      PCI ref
    """,
}


def _parse(table: str) -> dict[str, Field]:
    fields = {}
    for line in table.strip().splitlines():
        name, qualifier, type_ = line.split(None, 2)
        fields[name] = Field(name, qualifier, type_.strip())
    return fields


CLASSES: dict[str, dict[str, Field]] = {name: _parse(t) for name, t in _TABLES.items()}


def default_value(type_: str):
    """The value a field of this type has when nothing set it."""
    if type_.endswith(" ref"):
        return NULL_REF
    if type_.endswith(" set"):
        return []
    if type_.endswith(" map"):
        return {}
    if type_.startswith("enum "):
        return ENUMS[type_[5:]][0]
    if type_ == "datetime":
        return DateTime.at(0)
    return {"string": "", "int": 0, "float": 0.0, "bool": False}[type_]
