// SPDX-License-Identifier: GPL-2.0
/*
 * Attaching devices: swap a device's DMA ops for ours and back.
 *
 * Only devices without a bound driver are attached or detached: a driver holds mappings made
 * through the ops it probed with. While an attached device has a driver bound, the module holds
 * a reference on itself, so it cannot be unloaded under live mappings; a bind that comes while
 * the module is going away leaves the device on the kernel's ops instead.
 *
 * The driver core rewrites a device's DMA set-up on every probe: really_probe() runs the bus's
 * dma_configure() (on arm64 under Xen that installs xen-swiotlb's ops) before it sends
 * BUS_NOTIFY_BIND_DRIVER and calls the driver's probe. So at BIND_DRIVER the ops are taken back,
 * the ops the kernel just chose become the ones detach restores, and everything attach checked
 * is checked again.
 *
 * Lock order: device_lock() before usw_attach_lock, as the driver core calls our bus notifier
 * with the device lock held.
 */
#include <linux/iommu.h>
#include <linux/kobject.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/platform_device.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/swiotlb.h>
#include <linux/sysfs.h>

#include "uswiotlb.h"

/**
 * struct usw_attached - a device using our ops
 * @node: entry in usw_attached
 * @dev: the device, referenced
 * @orig_ops: its dma_ops before we came, restored on detach
 * @forced: the kernel forces it to bounce everything (swiotlb=force); counted in usw_force_key
 * @noncoherent: it does not snoop CPU caches; counted in usw_noncoherent_key
 * @bound: a driver is bound; we hold a module reference for it
 * @removing: the device was deleted with its driver bound; released once the driver is gone
 * @driver: name of the bound driver, copied at bind time for the devices file
 */
struct usw_attached {
	struct list_head node;
	struct device *dev;
	const struct dma_map_ops *orig_ops;
	bool forced;
	bool noncoherent;
	bool bound;
	bool removing;
	char driver[32];
};

static LIST_HEAD(usw_attached);
static DEFINE_MUTEX(usw_attach_lock);
static bool usw_attach_all;
static bool usw_closing;	/* unloading, or a load failed: nothing more is attached */
static struct kobject *usw_kobj;

static USW_BUS_CONST struct bus_type *const usw_buses[] = {
#ifdef CONFIG_PCI
	&pci_bus_type,
#endif
	&platform_bus_type,
};

static struct usw_attached *usw_find(struct device *dev)
{
	struct usw_attached *a;

	lockdep_assert_held(&usw_attach_lock);
	list_for_each_entry(a, &usw_attached, node)
		if (a->dev == dev)
			return a;
	return NULL;
}

static bool usw_in_iommu_domain(struct device *dev)
{
	struct iommu_domain *domain = iommu_get_domain_for_dev(dev);

	return domain && (domain->type & __IOMMU_DOMAIN_DMA_API);
}

/*
 * The ops we stand in for: dma-direct (none) and xen-swiotlb, which arm64's dma_configure
 * installs in a Xen dom0. Others are a mechanism the device depends on: an IOMMU, Xen grants,
 * or dma_dummy_ops for a device that must not do DMA at all.
 */
static bool usw_ops_replaceable(const struct dma_map_ops *ops)
{
	char name[32];	/* longer names are not the one we look for */

	if (!ops || ops == &usw_dma_ops)
		return true;
	snprintf(name, sizeof(name), "%ps", ops);
	return !strcmp(name, "xen_swiotlb_dma_ops");
}

/*
 * Why @dev cannot use our ops as it is set up now, or NULL. Checked at attach and again at
 * every bind, after the driver core's dma_configure().
 */
static const char *usw_unsuitable(struct device *dev)
{
	if (usw_in_iommu_domain(dev))
		return "it is in an IOMMU DMA domain (the kernel would bypass our ops)";
	if (is_swiotlb_for_alloc(dev))
		return "it has a restricted DMA pool, the only memory it may reach";
#ifdef CONFIG_DMA_DECLARE_COHERENT
	if (dev->dma_mem)
		return "it has its own coherent memory region";
#endif
	if (!usw_ops_replaceable(dev->dma_ops))
		return "it carries DMA ops uswiotlb does not stand in for";
	return NULL;
}

static void usw_key_set(struct static_key_false *key, bool *counted, bool on)
{
	if (*counted == on)
		return;
	if (on)
		static_branch_inc(key);
	else
		static_branch_dec(key);
	*counted = on;
}

/* Follow what the device's DMA set-up says now: swiotlb=force and coherency. */
static void usw_update(struct usw_attached *a)
{
	usw_key_set(&usw_force_key, &a->forced, is_swiotlb_force_bounce(a->dev));
	usw_key_set(&usw_noncoherent_key, &a->noncoherent, !dev_is_dma_coherent(a->dev));
}

/*
 * Put our ops on the device. Whatever else is there was set up by the kernel since we last
 * looked (dma_configure at probe), so that is what detach gives back.
 */
static void usw_take_ops(struct usw_attached *a)
{
	const struct dma_map_ops *ops = a->dev->dma_ops;

	if (ops != &usw_dma_ops) {
		a->orig_ops = ops;
		set_dma_ops(a->dev, &usw_dma_ops);
	}
	usw_update(a);
	usw_dev_need_sync(a->dev);
}

static void usw_release(struct usw_attached *a)
{
	lockdep_assert_held(&usw_attach_lock);
	set_dma_ops(a->dev, a->orig_ops);
	usw_key_set(&usw_force_key, &a->forced, false);
	usw_key_set(&usw_noncoherent_key, &a->noncoherent, false);
	list_del(&a->node);
	dev_info(a->dev, "uswiotlb: detached\n");
	put_device(a->dev);
	kfree(a);
}

/**
 * usw_attach() - make a device use the uswiotlb DMA ops
 * @dev: a device with no driver bound
 *
 * Return: 0; -EEXIST if already attached; -EBUSY if a driver is bound; -EOPNOTSUPP if it cannot
 * use our ops (an IOMMU DMA domain, a restricted pool or coherent region of its own, DMA ops
 * we do not stand in for); -EINVAL for our own device; -ENODEV while unloading; -ENOMEM.
 */
int usw_attach(struct device *dev)
{
	struct usw_attached *a;
	const char *why = NULL;
	int ret = 0;

	if (dev == usw_dev)
		return -EINVAL;
	a = kzalloc(sizeof(*a), GFP_KERNEL);
	if (!a)
		return -ENOMEM;

	device_lock(dev);
	mutex_lock(&usw_attach_lock);
	if (usw_closing) {
		ret = -ENODEV;
	} else if (usw_find(dev)) {
		dev_err(dev, "uswiotlb: already attached\n");
		ret = -EEXIST;
	} else if (dev->driver) {
		/* Named under the device lock: the driver cannot go away meanwhile. */
		dev_err(dev, "uswiotlb: not attached: driver %s is bound; unbind it first\n",
			dev->driver->name);
		ret = -EBUSY;
	} else {
		why = usw_unsuitable(dev);
	}
	if (why) {
		dev_err(dev, "uswiotlb: not attached: %s (ops %ps)\n", why, dev->dma_ops);
		ret = -EOPNOTSUPP;
	}
	if (!ret) {
		a->dev = get_device(dev);
		usw_take_ops(a);
		list_add_tail(&a->node, &usw_attached);
		a = NULL;
		dev_info(dev, "uswiotlb: attached\n");
	}
	mutex_unlock(&usw_attach_lock);
	device_unlock(dev);
	kfree(a);
	return ret;
}
EXPORT_SYMBOL_IF_KUNIT(usw_attach);

/**
 * usw_detach() - give a device back its original DMA ops
 * @dev: an attached device with no driver bound
 *
 * Return: 0; -ENODEV if not attached; -EBUSY if a driver is bound.
 */
int usw_detach(struct device *dev)
{
	struct usw_attached *a;
	int ret = 0;

	device_lock(dev);
	mutex_lock(&usw_attach_lock);
	a = usw_find(dev);
	if (!a) {
		ret = -ENODEV;
	} else if (dev->driver) {
		dev_err(dev, "uswiotlb: not detached: driver %s is bound; unbind it first\n",
			dev->driver->name);
		ret = -EBUSY;
	} else {
		usw_release(a);
	}
	mutex_unlock(&usw_attach_lock);
	device_unlock(dev);
	if (ret == -ENODEV)
		dev_err(dev, "uswiotlb: not detached: not attached\n");
	return ret;
}
EXPORT_SYMBOL_IF_KUNIT(usw_detach);

static struct device *usw_find_by_name(const char *name)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(usw_buses); i++) {
		struct device *dev = bus_find_device_by_name(usw_buses[i], NULL, name);

		if (dev)
			return dev;
	}
	pr_err("uswiotlb: no PCI or platform device named '%s'\n", name);
	return NULL;
}

static int usw_by_name(const char *name, int (*op)(struct device *dev))
{
	struct device *dev = usw_find_by_name(name);
	int ret;

	if (!dev)
		return -ENODEV;
	ret = op(dev);
	put_device(dev);
	return ret;
}

/**
 * usw_attach_by_name() - usw_attach() for a PCI or platform device named @name
 * @name: device name, e.g. 0000:00:04.0
 *
 * Return: as usw_attach(), or -ENODEV if there is no such device.
 */
int usw_attach_by_name(const char *name)
{
	return usw_by_name(name, usw_attach);
}
EXPORT_SYMBOL_IF_KUNIT(usw_attach_by_name);

/**
 * usw_detach_by_name() - usw_detach() for a PCI or platform device named @name
 * @name: device name
 *
 * Return: as usw_detach(), -ENODEV also if there is no such device.
 */
int usw_detach_by_name(const char *name)
{
	return usw_by_name(name, usw_detach);
}
EXPORT_SYMBOL_IF_KUNIT(usw_detach_by_name);

/* attach=all takes every PCI and platform device that has no driver yet. */
static int usw_attach_if_free(struct device *dev, void *unused)
{
	if (!dev->driver && dev != usw_dev)
		usw_attach(dev);
	return 0;
}

/**
 * usw_set_attach_all() - attach devices added from now on, as attach=all does
 * @all: true to attach new devices
 */
void usw_set_attach_all(bool all)
{
	mutex_lock(&usw_attach_lock);
	usw_attach_all = all;
	mutex_unlock(&usw_attach_lock);
}
EXPORT_SYMBOL_IF_KUNIT(usw_set_attach_all);

/*
 * A driver is about to probe on @a: dma_configure() has just run. The device goes back to the
 * kernel's ops instead if the module is going away or the new set-up rules us out.
 */
static void usw_bind(struct usw_attached *a)
{
	struct device *dev = a->dev;
	const char *why = usw_unsuitable(dev);

	if (!why && !a->bound && !try_module_get(THIS_MODULE))
		why = "uswiotlb is being unloaded";
	if (why) {
		dev_err(dev, "uswiotlb: %s binds on the kernel's DMA ops: %s\n", dev->driver->name,
			why);
		if (dev->dma_ops != &usw_dma_ops)
			a->orig_ops = dev->dma_ops;
		if (a->bound)
			module_put(THIS_MODULE);
		usw_release(a);
		return;
	}
	usw_take_ops(a);
	/* really_probe() binds twice with CONFIG_DEBUG_TEST_DRIVER_REMOVE: one reference. */
	a->bound = true;
	strscpy(a->driver, dev->driver->name, sizeof(a->driver));
}

/* The driver is gone (or its probe failed): drop its reference, and a deleted device. */
static void usw_unbound(struct usw_attached *a)
{
	bool put = a->bound;

	a->bound = false;
	a->driver[0] = '\0';
	if (a->removing)
		usw_release(a);
	if (put)
		module_put(THIS_MODULE);
}

static int usw_bus_notify(struct notifier_block *nb, unsigned long action, void *data)
{
	struct device *dev = data;
	struct usw_attached *a;
	bool attach;

	if (action == BUS_NOTIFY_ADD_DEVICE) {
		mutex_lock(&usw_attach_lock);
		attach = usw_attach_all;
		mutex_unlock(&usw_attach_lock);
		if (attach)
			usw_attach_if_free(dev, NULL);
		return NOTIFY_DONE;
	}

	mutex_lock(&usw_attach_lock);
	a = usw_find(dev);
	if (!a)
		goto out;
	switch (action) {
	case BUS_NOTIFY_BIND_DRIVER:
		usw_bind(a);
		break;
	case BUS_NOTIFY_UNBOUND_DRIVER:
	case BUS_NOTIFY_DRIVER_NOT_BOUND:
		usw_unbound(a);
		break;
	case BUS_NOTIFY_DEL_DEVICE:
		/*
		 * device_del() tells us before it unbinds the driver (platform devices): the
		 * driver's teardown still unmaps through our ops, so keep them until it is gone.
		 */
		if (a->bound)
			a->removing = true;
		else
			usw_release(a);
		break;
	}
out:
	mutex_unlock(&usw_attach_lock);
	return NOTIFY_DONE;
}

static struct notifier_block usw_bus_nb[ARRAY_SIZE(usw_buses)];

static ssize_t usw_name_store(const char *buf, size_t count, int (*op)(const char *name))
{
	char copy[64], *name;
	int ret;

	if (count >= sizeof(copy))
		goto bad;
	memcpy(copy, buf, count);
	copy[count] = '\0';
	name = strim(copy);
	if (!*name || strpbrk(name, " \t\n,"))
		goto bad;
	ret = op(name);
	return ret ? ret : count;
bad:
	pr_err_ratelimited("uswiotlb: write one device name, e.g. 0000:00:04.0 (%zu bytes given)\n",
			   count);
	return -EINVAL;
}

static ssize_t attach_store(struct kobject *kobj, struct kobj_attribute *attr, const char *buf,
			    size_t count)
{
	return usw_name_store(buf, count, usw_attach_by_name);
}

static ssize_t detach_store(struct kobject *kobj, struct kobj_attribute *attr, const char *buf,
			    size_t count)
{
	return usw_name_store(buf, count, usw_detach_by_name);
}

static ssize_t devices_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	struct usw_attached *a;
	int len = 0;

	mutex_lock(&usw_attach_lock);
	list_for_each_entry(a, &usw_attached, node) {
		/* ops= is what the device really uses now, in case someone swapped them. */
		len += sysfs_emit_at(buf, len, "%s %s driver=%s ops=%s%s\n", dev_name(a->dev),
				     a->bound ? "bound" : "unbound", a->bound ? a->driver : "-",
				     get_dma_ops(a->dev) == &usw_dma_ops ? "uswiotlb" : "other",
				     a->forced ? " forced" : "");
	}
	mutex_unlock(&usw_attach_lock);
	return len;
}

static struct kobj_attribute usw_attr_attach = __ATTR_WO(attach);
static struct kobj_attribute usw_attr_detach = __ATTR_WO(detach);
static struct kobj_attribute usw_attr_devices = __ATTR_RO(devices);

static struct attribute *usw_attrs[] = {
	&usw_attr_attach.attr,
	&usw_attr_detach.attr,
	&usw_attr_devices.attr,
	NULL,
};

static const struct attribute_group usw_attr_group = {
	.attrs = usw_attrs,
};

/*
 * At unload or a failed load: attach nothing more (a hotplug notifier may be half way), then
 * give every device back, each under its device lock so that no probe is half way. A device
 * can only be bound here if a driver bound during a load that then failed; its driver is
 * unbound first, while our ops still work.
 */
static void usw_detach_all(void)
{
	struct usw_attached *a;
	struct device *dev;
	bool bound;

	mutex_lock(&usw_attach_lock);
	usw_closing = true;
	usw_attach_all = false;
	mutex_unlock(&usw_attach_lock);
	for (;;) {
		mutex_lock(&usw_attach_lock);
		a = list_first_entry_or_null(&usw_attached, struct usw_attached, node);
		dev = a ? get_device(a->dev) : NULL;
		mutex_unlock(&usw_attach_lock);
		if (!dev)
			return;
		device_lock(dev);
		mutex_lock(&usw_attach_lock);
		a = usw_find(dev);
		bound = a && a->bound;
		if (a && !bound)
			usw_release(a);
		mutex_unlock(&usw_attach_lock);
		device_unlock(dev);
		if (bound)
			device_release_driver(dev);
		put_device(dev);
	}
}

static int usw_attach_list(const char *spec)
{
	char *list = kstrdup(spec, GFP_KERNEL), *cur, *name;
	int ret = 0;

	if (!list)
		return -ENOMEM;
	cur = list;
	while ((name = strsep(&cur, ",")) && !ret) {
		name = strim(name);
		ret = *name ? usw_attach_by_name(name) : -EINVAL;
		if (ret)
			pr_err("uswiotlb: attach=%s: cannot attach '%s' (%d)\n", spec, name, ret);
	}
	kfree(list);
	return ret;
}

/**
 * usw_attach_init() - set up attaching, and attach what the attach= parameter names
 * @spec: "none", "all", or a comma-separated list of device names
 *
 * Return: 0, or a negative errno after undoing everything (the load then fails).
 */
int usw_attach_init(const char *spec)
{
	unsigned int i;
	int ret;

	usw_kobj = kobject_create_and_add("uswiotlb", kernel_kobj);
	if (!usw_kobj)
		return -ENOMEM;
	ret = sysfs_create_group(usw_kobj, &usw_attr_group);
	if (ret)
		goto fail_kobj;
	for (i = 0; i < ARRAY_SIZE(usw_buses); i++) {
		usw_bus_nb[i].notifier_call = usw_bus_notify;
		ret = bus_register_notifier(usw_buses[i], &usw_bus_nb[i]);
		if (ret)
			goto fail_nb;
	}

	if (!*spec || !strcmp(spec, "none"))
		return 0;
	if (!strcmp(spec, "all")) {
		usw_set_attach_all(true);
		for (i = 0; i < ARRAY_SIZE(usw_buses); i++)
			bus_for_each_dev(usw_buses[i], NULL, NULL, usw_attach_if_free);
		return 0;
	}
	ret = usw_attach_list(spec);
	if (!ret)
		return 0;
	usw_detach_all();
fail_nb:
	while (i--)
		bus_unregister_notifier(usw_buses[i], &usw_bus_nb[i]);
fail_kobj:
	kobject_put(usw_kobj);
	return ret;
}

/**
 * usw_attach_exit() - detach every device and stop watching the buses
 */
void usw_attach_exit(void)
{
	unsigned int i;

	kobject_put(usw_kobj);
	usw_detach_all();
	for (i = 0; i < ARRAY_SIZE(usw_buses); i++)
		bus_unregister_notifier(usw_buses[i], &usw_bus_nb[i]);
}
