// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suite uswiotlb_control: attaching and parameters, and real probes.
 */
#include <linux/dma-map-ops.h>
#include <linux/dma-mapping.h>
#include <linux/fs.h>
#include <linux/iommu.h>
#include <linux/of.h>
#include <linux/pci.h>
#include <linux/platform_device.h>
#include <linux/swiotlb.h>

#include "helpers.h"

/*
 * 6.1 runs a module's suites while the module is still coming, before its sysfs directory
 * exists, and a driver that names the module as its owner cannot be added then.
 */
static struct module *usw_drv_owner(void)
{
	return THIS_MODULE->state == MODULE_STATE_LIVE ? THIS_MODULE : NULL;
}

static int usw_register_pdrv(struct platform_driver *drv)
{
	return __platform_driver_register(drv, usw_drv_owner());
}

static int usw_register_pcidrv(struct pci_driver *drv)
{
	return __pci_register_driver(drv, usw_drv_owner(), KBUILD_MODNAME);
}

/* Force (or with "" clear) which driver binds to @dev, as sysfs driver_override does. */
static int usw_set_override(struct device *dev, bool pci, const char *name)
{
#ifdef USW_HAVE_DEVICE_DRIVER_OVERRIDE
	return device_set_driver_override(dev, name);
#else
	const char **slot = pci ? &to_pci_dev(dev)->driver_override :
				  &to_platform_device(dev)->driver_override;

	return driver_set_override(dev, slot, name, strlen(name));
#endif
}

static void usw_test_attach_refusals(struct kunit *test)
{
	struct usw_test *t = test->priv;

	KUNIT_EXPECT_EQ(test, usw_attach(t->dev), -EEXIST);
	KUNIT_EXPECT_EQ(test, usw_attach(usw_dev), -EINVAL);
	KUNIT_EXPECT_EQ(test, usw_attach_by_name("usw-kunit-no-such-device"), -ENODEV);
	KUNIT_EXPECT_EQ(test, usw_detach_by_name("usw-kunit-no-such-device"), -ENODEV);

	KUNIT_ASSERT_EQ(test, usw_detach(t->dev), 0);
	t->attached = false;
	KUNIT_EXPECT_NULL(test, t->dev->dma_ops);
	KUNIT_EXPECT_EQ(test, usw_detach(t->dev), -ENODEV);

	KUNIT_ASSERT_EQ(test, usw_attach_by_name(dev_name(t->dev)), 0);
	t->attached = true;
	KUNIT_EXPECT_PTR_EQ(test, get_dma_ops(t->dev), &usw_dma_ops);
}

static int usw_test_probe(struct platform_device *pdev)
{
	return 0;
}

static struct platform_driver usw_test_driver = {
	.probe = usw_test_probe,
	.driver = { .name = "usw-kunit-drv" },
};

/* Write @text to /sys/kernel/uswiotlb/@file as a shell's echo would: Return: bytes or -errno. */
static ssize_t usw_sysfs_write(const char *file, const char *text)
{
	char path[64];
	struct file *f;
	loff_t pos = 0;
	ssize_t ret;

	snprintf(path, sizeof(path), "/sys/kernel/uswiotlb/%s", file);
	f = filp_open(path, O_WRONLY, 0);
	if (IS_ERR(f))
		return PTR_ERR(f);
	ret = kernel_write(f, text, strlen(text), &pos);
	filp_close(f, NULL);
	return ret;
}

/* The line /sys/kernel/uswiotlb/devices shows for @dev, or "" */
static void usw_devices_line(struct kunit *test, struct device *dev, char *line, size_t size)
{
	char *buf = kunit_kzalloc(test, PAGE_SIZE, GFP_KERNEL), *cur, *l;
	size_t n = strlen(dev_name(dev));
	struct file *f;
	loff_t pos = 0;

	*line = '\0';
	KUNIT_ASSERT_NOT_NULL(test, buf);
	f = filp_open("/sys/kernel/uswiotlb/devices", O_RDONLY, 0);
	KUNIT_ASSERT_FALSE(test, IS_ERR(f));
	KUNIT_EXPECT_GE(test, kernel_read(f, buf, PAGE_SIZE - 1, &pos), 0);
	filp_close(f, NULL);
	cur = buf;
	while ((l = strsep(&cur, "\n")))
		if (!strncmp(l, dev_name(dev), n) && l[n] == ' ')
			strscpy(line, l, size);
}

static void usw_test_bound_driver(struct kunit *test)
{
	struct platform_device_info info = {
		.name = "usw-kunit-drv",
		.id = PLATFORM_DEVID_NONE,
		.dma_mask = DMA_BIT_MASK(64),
	};
	struct platform_device *pdev;
	unsigned int refs = usw_module_refs();
	char line[128];

	KUNIT_ASSERT_EQ(test, usw_register_pdrv(&usw_test_driver), 0);
	pdev = platform_device_register_full(&info);
	KUNIT_ASSERT_FALSE(test, IS_ERR(pdev));
	KUNIT_ASSERT_NOT_NULL(test, pdev->dev.driver);

	/* A bound driver holds mappings made through its current ops. */
	KUNIT_EXPECT_EQ(test, usw_attach(&pdev->dev), -EBUSY);
	KUNIT_EXPECT_NULL(test, pdev->dev.dma_ops);
	platform_driver_unregister(&usw_test_driver);

	KUNIT_EXPECT_EQ(test, usw_attach(&pdev->dev), 0);
	KUNIT_ASSERT_EQ(test, usw_register_pdrv(&usw_test_driver), 0);
	KUNIT_EXPECT_NOT_NULL(test, pdev->dev.driver);
	KUNIT_EXPECT_EQ(test, usw_module_refs(), refs + 1);
	usw_devices_line(test, &pdev->dev, line, sizeof(line));
	KUNIT_EXPECT_STREQ(test, line, "usw-kunit-drv bound driver=usw-kunit-drv ops=uswiotlb");
	KUNIT_EXPECT_EQ(test, usw_detach(&pdev->dev), -EBUSY);
	KUNIT_EXPECT_PTR_EQ(test, get_dma_ops(&pdev->dev), &usw_dma_ops);

	platform_driver_unregister(&usw_test_driver);
	KUNIT_EXPECT_EQ(test, usw_module_refs(), refs);
	KUNIT_EXPECT_EQ(test, usw_detach(&pdev->dev), 0);
	KUNIT_EXPECT_NULL(test, pdev->dev.dma_ops);
	platform_device_unregister(pdev);
}

/*
 * A PCI device the IOMMU translates for: the kernel bypasses custom ops there (6.12), so attach
 * refuses it and leaves its ops alone. Needs QEMU's intel-iommu and a driver-less PCI device.
 */
static void usw_test_iommu_refused(struct kunit *test)
{
	struct pci_dev *pdev = NULL;
	const struct dma_map_ops *ops;
	char text[32];

	for_each_pci_dev(pdev) {
		struct iommu_domain *dom = iommu_get_domain_for_dev(&pdev->dev);

		if (!pdev->dev.driver && dom && (dom->type & __IOMMU_DOMAIN_DMA_API))
			break;
	}
	if (!pdev)
		kunit_skip(test, "no driver-less PCI device in an IOMMU DMA domain");
	ops = get_dma_ops(&pdev->dev);
	KUNIT_EXPECT_EQ(test, usw_attach(&pdev->dev), -EOPNOTSUPP);
	KUNIT_EXPECT_PTR_EQ(test, get_dma_ops(&pdev->dev), ops);
	snprintf(text, sizeof(text), "%s\n", pci_name(pdev));
	KUNIT_EXPECT_EQ(test, usw_sysfs_write("attach", text), -EOPNOTSUPP);
	KUNIT_EXPECT_EQ(test, usw_detach(&pdev->dev), -ENODEV);
	pci_dev_put(pdev);
}

/* The sysfs files as an admin uses them: through the VFS, with echo's newline. */
static void usw_test_sysfs_files(struct kunit *test)
{
	struct usw_test *t = test->priv;
	static const char *const bad[] = { "\n", "two words\n", "a,b\n", "\t\n",
		"usw-kunit-name-that-is-much-too-long-for-any-pci-or-platform-device\n" };
	char line[128], want[128], text[80];
	unsigned int i;

	usw_devices_line(test, t->dev, line, sizeof(line));
	snprintf(want, sizeof(want), "%s unbound driver=- ops=uswiotlb", dev_name(t->dev));
	KUNIT_EXPECT_STREQ(test, line, want);

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		KUNIT_EXPECT_EQ_MSG(test, usw_sysfs_write("attach", bad[i]), -EINVAL, "%s", bad[i]);
		KUNIT_EXPECT_EQ_MSG(test, usw_sysfs_write("detach", bad[i]), -EINVAL, "%s", bad[i]);
	}
	KUNIT_EXPECT_PTR_EQ(test, get_dma_ops(t->dev), &usw_dma_ops);
	KUNIT_EXPECT_EQ(test, usw_sysfs_write("attach", "usw-kunit-no-such-device\n"), -ENODEV);

	/* Surrounding blanks are not part of the name. */
	snprintf(text, sizeof(text), "  %s\n", dev_name(t->dev));
	KUNIT_EXPECT_EQ(test, usw_sysfs_write("detach", text), (ssize_t)strlen(text));
	KUNIT_EXPECT_NULL(test, t->dev->dma_ops);
	t->attached = t->dev->dma_ops == &usw_dma_ops;
	usw_devices_line(test, t->dev, line, sizeof(line));
	KUNIT_EXPECT_STREQ(test, line, "");

	snprintf(text, sizeof(text), "%s\n", dev_name(t->dev));
	KUNIT_EXPECT_EQ(test, usw_sysfs_write("attach", text), (ssize_t)strlen(text));
	t->attached = t->dev->dma_ops == &usw_dma_ops;
	KUNIT_EXPECT_TRUE(test, t->attached);
	KUNIT_EXPECT_EQ(test, usw_sysfs_write("attach", text), -EEXIST);
}

static void usw_test_syncs_reach_us(struct kunit *test)
{
	struct usw_test *t = test->priv;
	u8 *buf = tbuf(test, 1024, 1);
	dma_addr_t dma;

	KUNIT_ASSERT_EQ(test, usw_detach(t->dev), 0);
	t->attached = false;
#ifdef CONFIG_DMA_NEED_SYNC
	/* What a driver probed on a coherent direct-mapped device leaves behind. */
	t->dev->dma_skip_sync = true;
#endif
	KUNIT_ASSERT_EQ(test, usw_attach(t->dev), 0);
	t->attached = true;
#ifdef CONFIG_DMA_NEED_SYNC
	KUNIT_EXPECT_FALSE(test, t->dev->dma_skip_sync);
#endif
	usw_set_force(true);
	dma = dma_map_single(t->dev, buf, 1024, DMA_FROM_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, dma));
	hw_write(test, dma, 1024, 2);
	dma_sync_single_for_cpu(t->dev, dma, 1024, DMA_FROM_DEVICE);
	KUNIT_EXPECT_TRUE(test, filled(buf, 1024, 2));
	dma_unmap_single(t->dev, dma, 1024, DMA_FROM_DEVICE);
}

static void usw_test_attach_all_new_devices(struct kunit *test)
{
	struct platform_device *a, *b;

	usw_set_attach_all(true);
	a = platform_device_register_simple("usw-kunit-hotplug", 1, NULL, 0);
	usw_set_attach_all(false);
	b = platform_device_register_simple("usw-kunit-hotplug", 2, NULL, 0);
	KUNIT_ASSERT_FALSE(test, IS_ERR(a));
	KUNIT_ASSERT_FALSE(test, IS_ERR(b));
	KUNIT_EXPECT_PTR_EQ(test, get_dma_ops(&a->dev), &usw_dma_ops);
	KUNIT_EXPECT_NULL(test, b->dev.dma_ops);
	platform_device_unregister(b);
	/* Removing an attached device forgets it. */
	platform_device_unregister(a);
	KUNIT_EXPECT_EQ(test, usw_detach_by_name("usw-kunit-hotplug.1"), -ENODEV);
}

static void usw_test_pool_size_values(struct kunit *test)
{
	static const char *const bad[] = {
		"0", "1T", "100K", "abc", "", "64Mjunk", "1025M", "-64M", "255K",
	};
	static const struct {
		const char *val;
		unsigned long bytes;
	} good[] = {
		{ "64M", 64UL << 20 }, { "512K", 512UL << 10 }, { "256K", 256UL << 10 },
		{ "1G", 1UL << 30 }, { "4M\n", 4UL << 20 },
	};
	unsigned long bytes;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		bytes = 12345;
		KUNIT_EXPECT_EQ_MSG(test, usw_parse_size("pool_size", bad[i], SZ_256K, false,
							 &bytes), -EINVAL, "'%s'", bad[i]);
		KUNIT_EXPECT_EQ(test, bytes, 12345UL);
	}
	for (i = 0; i < ARRAY_SIZE(good); i++) {
		KUNIT_EXPECT_EQ_MSG(test, usw_parse_size("pool_size", good[i].val, SZ_256K, false,
							 &bytes), 0, "'%s'", good[i].val);
		KUNIT_EXPECT_EQ(test, bytes, good[i].bytes);
	}
	/* pool_max: 0 is "off"; with 2 MiB segments, sizes come in 2 MiB steps. */
	KUNIT_EXPECT_EQ(test, usw_parse_size("pool_max", "0", SZ_2M, true, &bytes), 0);
	KUNIT_EXPECT_EQ(test, bytes, 0UL);
	KUNIT_EXPECT_EQ(test, usw_parse_size("pool_max", "3M", SZ_2M, true, &bytes), -EINVAL);
	KUNIT_EXPECT_EQ(test, usw_parse_size("pool_max", "6M", SZ_2M, true, &bytes), 0);
	KUNIT_EXPECT_EQ(test, bytes, 6UL << 20);
}

/* ---- real probes: the driver core's dma_configure() runs before the driver's probe ---- */

/* What the last probe of a usw-kunit-probe driver found on its device. */
static struct {
	const struct dma_map_ops *ops;
	unsigned int probes;
} usw_probed;

static void usw_probe_record(struct device *dev)
{
	usw_probed.ops = get_dma_ops(dev);
	usw_probed.probes++;
}

static int usw_probe_platform(struct platform_device *pdev)
{
	usw_probe_record(&pdev->dev);
	return 0;
}

static struct platform_driver usw_probe_pdrv = {
	.probe = usw_probe_platform,
	.driver = { .name = "usw-kunit-probe" },
};

static int usw_probe_pci(struct pci_dev *pdev, const struct pci_device_id *id)
{
	usw_probe_record(&pdev->dev);
	return 0;
}

static struct pci_driver usw_probe_pcidrv = {
	.name = "usw-kunit-probe",
	.probe = usw_probe_pci,
};

static int usw_is_virtio_slot(struct device *dev, const void *unused)
{
	return !dev->driver && of_device_is_compatible(dev->of_node, "virtio,mmio") &&
	       !is_swiotlb_for_alloc(dev);
}

/*
 * A driver-less device whose probe goes through dma_configure(), referenced: an empty
 * virtio-mmio slot of QEMU's virt board (arm64: of_dma_configure, and under Xen
 * xen_setup_dma_ops), or QEMU's pci-testdev outside an IOMMU domain (the x86 Xen PV dom0).
 */
static struct device *usw_probe_candidate(bool *pci)
{
	struct pci_dev *pdev = NULL;
	struct device *dev;

	*pci = false;
	dev = bus_find_device(&platform_bus_type, NULL, NULL, usw_is_virtio_slot);
	if (dev)
		return dev;
	while ((pdev = pci_get_device(PCI_VENDOR_ID_REDHAT, 0x0005, pdev))) {
		if (!pdev->dev.driver && !iommu_get_domain_for_dev(&pdev->dev)) {
			*pci = true;
			return &pdev->dev;
		}
	}
	return NULL;
}

/* Bind usw-kunit-probe to @dev through the driver core, as an admin's bind would. */
static int usw_probe_bind(struct device *dev, bool pci)
{
	usw_probed.probes = 0;
	usw_probed.ops = NULL;
	return pci ? usw_register_pcidrv(&usw_probe_pcidrv) :
		     usw_register_pdrv(&usw_probe_pdrv);
}

static void usw_probe_unbind(bool pci)
{
	if (pci)
		pci_unregister_driver(&usw_probe_pcidrv);
	else
		platform_driver_unregister(&usw_probe_pdrv);
}

#if defined(CONFIG_ARCH_HAS_SYNC_DMA_FOR_DEVICE) || defined(CONFIG_ARCH_HAS_SYNC_DMA_FOR_CPU) || \
	defined(CONFIG_ARCH_HAS_SYNC_DMA_FOR_CPU_ALL)
static void usw_set_coherent(struct device *dev, bool coherent)
{
	dev->dma_coherent = coherent;
}
#else
static void usw_set_coherent(struct device *dev, bool coherent)
{
}
#endif

/*
 * A real probe after attach: dma_configure() runs first (on arm64 under Xen it puts
 * xen-swiotlb's ops back), then the driver must still find our ops, the coherency the probe
 * set is what counts, the mappings it makes go through the pool with force=1, and detach
 * gives back what the kernel's probe installed.
 */
static void usw_test_real_probe(struct kunit *test)
{
	unsigned long forced = usw_stat(bounced[USW_BOUNCE_FORCE]);
	unsigned int refs = usw_module_refs();
	const struct dma_map_ops *kernel_ops;
	char line[128], want[160];
	long noncoherent_base;
	struct device *dev;
	dma_addr_t dma;
	bool pci;
	u8 *buf;

	dev = usw_probe_candidate(&pci);
	if (!dev)
		kunit_skip(test, "no driver-less device here whose probe runs dma_configure");
	kunit_info(test, "probing %s (%s)\n", dev_name(dev), pci ? "PCI" : "platform, DT node");
	KUNIT_ASSERT_EQ(test, usw_set_override(dev, pci, "usw-kunit-probe"), 0);

	/* The kernel's own probe: what does dma_configure() install here? */
	KUNIT_ASSERT_EQ(test, usw_probe_bind(dev, pci), 0);
	KUNIT_EXPECT_EQ(test, usw_probed.probes, 1U);
	kernel_ops = dev->dma_ops;
	usw_probe_unbind(pci);

	/* Attached with ops and coherency the next probe will rewrite. */
	dev->dma_ops = NULL;
	usw_set_coherent(dev, !dev_is_dma_coherent(dev));
	noncoherent_base = static_key_count(&usw_noncoherent_key.key);
	KUNIT_ASSERT_EQ(test, usw_attach(dev), 0);

	KUNIT_ASSERT_EQ(test, usw_probe_bind(dev, pci), 0);
	KUNIT_EXPECT_EQ(test, usw_probed.probes, 1U);
	KUNIT_EXPECT_PTR_EQ(test, usw_probed.ops, &usw_dma_ops);
	/* Counted by what the probe set, not by the stale value attach saw. */
	KUNIT_EXPECT_EQ(test, static_key_count(&usw_noncoherent_key.key),
			noncoherent_base + !dev_is_dma_coherent(dev));
	KUNIT_EXPECT_EQ(test, usw_module_refs(), refs + 1);
	usw_devices_line(test, dev, line, sizeof(line));
	snprintf(want, sizeof(want), "%s bound driver=usw-kunit-probe ops=uswiotlb", dev_name(dev));
	KUNIT_EXPECT_STREQ(test, line, want);

	/* The bound device maps through the pool. */
	buf = tbuf(test, 3000, 60);
	usw_set_force(true);
	dma = dma_map_single(dev, buf, 3000, DMA_BIDIRECTIONAL);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(dev, dma));
	KUNIT_EXPECT_EQ(test, usw_stat(bounced[USW_BOUNCE_FORCE]), forced + 1);
	KUNIT_EXPECT_TRUE(test, in_pool(dev, dma));
	hw_dma(dev, dma, buf + 1500, 1500, false);
	KUNIT_EXPECT_TRUE(test, filled(buf + 1500, 1500, 60));
	fill(buf + 1500, 1500, 61);
	hw_dma(dev, dma, buf + 1500, 1500, true);
	dma_unmap_single(dev, dma, 3000, DMA_BIDIRECTIONAL);
	KUNIT_EXPECT_TRUE(test, filled(buf, 1500, 61));
	usw_set_force(false);

	usw_probe_unbind(pci);
	KUNIT_EXPECT_EQ(test, usw_module_refs(), refs);
	KUNIT_EXPECT_EQ(test, usw_detach(dev), 0);
	KUNIT_EXPECT_PTR_EQ(test, dev->dma_ops, kernel_ops);
	KUNIT_EXPECT_EQ(test, static_key_count(&usw_noncoherent_key.key), noncoherent_base);
	KUNIT_EXPECT_EQ(test, usw_set_override(dev, pci, ""), 0);
	put_device(dev);
}

static int usw_has_restricted_pool(struct device *dev, const void *unused)
{
	return !dev->driver && is_swiotlb_for_alloc(dev);
}

/*
 * A device-tree restricted DMA pool (run-kunit.sh gives one to an empty virtio-mmio slot on
 * arm64): the device may reach nothing else, so attach refuses it, and so does the bind after
 * a probe whose dma_configure() installed the pool only after attach had looked.
 */
static void usw_test_restricted_pool_refused(struct kunit *test)
{
	struct usw_test *t = test->priv;
	unsigned int refs = usw_module_refs();
	const struct dma_map_ops *ops;
	struct io_tlb_mem *pool;
	struct device *dev;

	dev = bus_find_device(&platform_bus_type, NULL, NULL, usw_has_restricted_pool);
	if (!dev)
		kunit_skip(test, "no driver-less device with a restricted DMA pool");
	kunit_info(test, "%s has a restricted DMA pool\n", dev_name(dev));
	ops = dev->dma_ops;
	KUNIT_EXPECT_EQ(test, usw_attach(dev), -EOPNOTSUPP);
	KUNIT_EXPECT_PTR_EQ(test, dev->dma_ops, ops);
	KUNIT_EXPECT_EQ(test, usw_detach(dev), -ENODEV);

	/* As before its first probe: the kernel's default pool, which attach accepts. */
	pool = dev->dma_io_tlb_mem;
	dev->dma_io_tlb_mem = t->dev->dma_io_tlb_mem;
	KUNIT_ASSERT_EQ(test, usw_attach(dev), 0);
	KUNIT_ASSERT_EQ(test, usw_set_override(dev, false, "usw-kunit-probe"), 0);
	KUNIT_EXPECT_EQ(test, usw_probe_bind(dev, false), 0);
	KUNIT_EXPECT_EQ(test, usw_probed.probes, 1U);
	KUNIT_EXPECT_PTR_EQ(test, dev->dma_io_tlb_mem, pool);
	/* dma_configure() put the pool back; the driver probed on the kernel's ops. */
	KUNIT_EXPECT_PTR_NE(test, usw_probed.ops, &usw_dma_ops);
	KUNIT_EXPECT_EQ(test, usw_module_refs(), refs);
	usw_probe_unbind(false);
	KUNIT_EXPECT_EQ(test, usw_detach(dev), -ENODEV);
	KUNIT_EXPECT_PTR_NE(test, get_dma_ops(dev), &usw_dma_ops);
	dev->dma_io_tlb_mem = pool;
	KUNIT_EXPECT_EQ(test, usw_set_override(dev, false, ""), 0);
	put_device(dev);
}

/* A driver that keeps one forced mapping from probe to remove. */
struct usw_del_state {
	u8 buf[2048];
	dma_addr_t dma;
};

static const struct dma_map_ops *usw_removed_ops;

static int usw_del_probe(struct platform_device *pdev)
{
	struct usw_del_state *st = devm_kzalloc(&pdev->dev, sizeof(*st), GFP_KERNEL);

	if (!st)
		return -ENOMEM;
	st->dma = dma_map_single(&pdev->dev, st->buf, sizeof(st->buf), DMA_TO_DEVICE);
	if (dma_mapping_error(&pdev->dev, st->dma))
		return -EIO;
	platform_set_drvdata(pdev, st);
	return 0;
}

static void usw_del_remove(struct platform_device *pdev)
{
	struct usw_del_state *st = platform_get_drvdata(pdev);

	usw_removed_ops = get_dma_ops(&pdev->dev);
	dma_unmap_single(&pdev->dev, st->dma, sizeof(st->buf), DMA_TO_DEVICE);
}

static struct platform_driver usw_del_drv = {
	.probe = usw_del_probe,
	.USW_PLATFORM_REMOVE = usw_del_remove,
	.driver = { .name = "usw-kunit-del" },
};

/*
 * A device deleted while its driver is bound: device_del() tells the bus notifier before it
 * unbinds the driver, whose teardown must still unmap through our ops; then the device is
 * forgotten and the driver's module reference is dropped.
 */
static void usw_test_del_device_bound(struct kunit *test)
{
	struct platform_device_info info = {
		.name = "usw-kunit-del",
		.id = PLATFORM_DEVID_NONE,
		.dma_mask = DMA_BIT_MASK(64),
	};
	unsigned long misuse = usw_stat(misuse);
	unsigned int refs = usw_module_refs();
	struct platform_device *pdev;

	pdev = platform_device_register_full(&info);
	KUNIT_ASSERT_FALSE(test, IS_ERR(pdev));
	KUNIT_ASSERT_EQ(test, usw_attach(&pdev->dev), 0);
	usw_set_force(true);
	KUNIT_ASSERT_EQ(test, usw_register_pdrv(&usw_del_drv), 0);
	KUNIT_ASSERT_NOT_NULL(test, pdev->dev.driver);
	KUNIT_EXPECT_EQ(test, used(), 1);
	KUNIT_EXPECT_EQ(test, usw_module_refs(), refs + 1);

	usw_removed_ops = NULL;
	platform_device_unregister(pdev);
	KUNIT_EXPECT_PTR_EQ(test, usw_removed_ops, &usw_dma_ops);
	KUNIT_EXPECT_EQ(test, used(), 0);
	KUNIT_EXPECT_EQ(test, usw_stat(misuse), misuse);
	KUNIT_EXPECT_EQ(test, usw_module_refs(), refs);
	KUNIT_EXPECT_EQ(test, usw_detach_by_name("usw-kunit-del"), -ENODEV);
	platform_driver_unregister(&usw_del_drv);
}

/* Ops of some other mechanism (an IOMMU, Xen grants, dma_dummy_ops): not ours to replace. */
static const struct dma_map_ops usw_kunit_other_ops = {
	.map_page = NULL,
};

static void usw_test_other_ops_refused(struct kunit *test)
{
	struct usw_test *t = test->priv;

	KUNIT_ASSERT_EQ(test, usw_detach(t->dev), 0);
	t->attached = false;
	set_dma_ops(t->dev, &usw_kunit_other_ops);
	KUNIT_EXPECT_EQ(test, usw_attach(t->dev), -EOPNOTSUPP);
	KUNIT_EXPECT_PTR_EQ(test, t->dev->dma_ops, &usw_kunit_other_ops);
	set_dma_ops(t->dev, NULL);
}

/*
 * A device the kernel forces to bounce (swiotlb=force gives every device a pool with
 * force_bounce set) bounces with our ops too at force=0, and says so in the devices file.
 * Only force_bounce of the kernel's pool matters to a device that is not on swiotlb's ops;
 * an empty pool with that set stands in for the boot option.
 */
static void usw_test_kernel_forced(struct kunit *test)
{
	unsigned long forced = usw_stat(bounced[USW_BOUNCE_FORCE]);
	long keys = static_key_count(&usw_force_key.key);
	struct usw_test *t = test->priv;
	struct io_tlb_mem *pool = t->dev->dma_io_tlb_mem, *forcing;
	u8 *buf = tbuf(test, 1000, 31);
	char line[128], want[128];
	dma_addr_t dma;

	forcing = kunit_kzalloc(test, sizeof(*forcing), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, forcing);
	forcing->force_bounce = true;
	KUNIT_ASSERT_EQ(test, usw_detach(t->dev), 0);
	t->attached = false;
	t->dev->dma_io_tlb_mem = forcing;
	KUNIT_ASSERT_EQ(test, usw_attach(t->dev), 0);
	t->attached = true;

	usw_devices_line(test, t->dev, line, sizeof(line));
	snprintf(want, sizeof(want), "%s unbound driver=- ops=uswiotlb forced", dev_name(t->dev));
	KUNIT_EXPECT_STREQ(test, line, want);
	KUNIT_EXPECT_EQ(test, static_key_count(&usw_force_key.key), keys + 1);
	dma = dma_map_single(t->dev, buf, 1000, DMA_TO_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, dma));
	KUNIT_EXPECT_TRUE(test, in_pool(t->dev, dma));
	KUNIT_EXPECT_EQ(test, usw_stat(bounced[USW_BOUNCE_FORCE]), forced + 1);
	KUNIT_EXPECT_TRUE(test, hw_sees(test, dma, 1000, 31));
	dma_unmap_single(t->dev, dma, 1000, DMA_TO_DEVICE);

	KUNIT_EXPECT_EQ(test, usw_detach(t->dev), 0);
	t->attached = false;
	KUNIT_EXPECT_EQ(test, static_key_count(&usw_force_key.key), keys);
	t->dev->dma_io_tlb_mem = pool;
}

static bool usw_is_xen_ops(const struct dma_map_ops *ops)
{
	char name[32];

	snprintf(name, sizeof(name), "%ps", ops);
	return ops && !strcmp(name, "xen_swiotlb_dma_ops");
}

static int usw_find_xen_ops(struct device *dev, void *data)
{
	const struct dma_map_ops **ops = data;

	if (!usw_is_xen_ops(dev->dma_ops))
		return 0;
	*ops = dev->dma_ops;
	return 1;
}

/*
 * Detach gives back the ops that were there, not NULL: xen-swiotlb's, as the kernel installs
 * them here (x86 PV: the architecture's ops; arm64 dom0: on each device at probe).
 */
static void usw_test_detach_restores_ops(struct kunit *test)
{
	const struct dma_map_ops *xen_ops = NULL;
	struct usw_test *t = test->priv;

#ifdef CONFIG_X86
	if (usw_is_xen_ops(dma_ops))
		xen_ops = dma_ops;
#endif
	if (!xen_ops)
		bus_for_each_dev(&platform_bus_type, NULL, &xen_ops, usw_find_xen_ops);
	if (!xen_ops)
		kunit_skip(test, "no xen-swiotlb DMA ops here");

	KUNIT_ASSERT_EQ(test, usw_detach(t->dev), 0);
	t->attached = false;
	set_dma_ops(t->dev, xen_ops);
	KUNIT_ASSERT_EQ(test, usw_attach(t->dev), 0);
	KUNIT_EXPECT_PTR_EQ(test, get_dma_ops(t->dev), &usw_dma_ops);
	KUNIT_EXPECT_EQ(test, usw_detach(t->dev), 0);
	KUNIT_EXPECT_PTR_EQ(test, t->dev->dma_ops, xen_ops);
	set_dma_ops(t->dev, NULL);
}

static struct kunit_case usw_ctl_cases[] = {
	KUNIT_CASE(usw_test_attach_refusals),
	KUNIT_CASE(usw_test_bound_driver),
	KUNIT_CASE(usw_test_sysfs_files),
	KUNIT_CASE(usw_test_iommu_refused),
	KUNIT_CASE(usw_test_syncs_reach_us),
	KUNIT_CASE(usw_test_attach_all_new_devices),
	KUNIT_CASE(usw_test_pool_size_values),
	KUNIT_CASE(usw_test_real_probe),
	KUNIT_CASE(usw_test_restricted_pool_refused),
	KUNIT_CASE(usw_test_del_device_bound),
	KUNIT_CASE(usw_test_other_ops_refused),
	KUNIT_CASE(usw_test_detach_restores_ops),
	KUNIT_CASE(usw_test_kernel_forced),
	{}
};

struct kunit_suite usw_ctl_suite = {
	.name = "uswiotlb_control",
	.init = usw_test_init,
	.exit = usw_test_exit,
	.test_cases = usw_ctl_cases,
};
