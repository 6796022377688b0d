// SPDX-License-Identifier: GPL-2.0
/*
 * Xen translation shared by PV and auto-translated domains: the bus address of a buffer is its
 * frame's bus frame (pfn_to_bfn), which differs from the pfn for every page of a PV domain and,
 * in an auto-translated domain (arm, PVH), only for foreign pages mapped from other domains.
 * Only reached while usw_xen_pv_key or usw_xen_auto_key is on.
 */
#include <linux/types.h>
#include <xen/xen.h>
#include <xen/features.h>
#include <xen/page.h>

#include "uswiotlb.h"

/*
 * Whether the frame at @pfn (bus frame @bfn) is another domain's page, granted and mapped here.
 * A PV domain's p2m marks such frames; an auto-translated one sees a bus frame it does not own,
 * except on x86 PVH, where the IOMMU hides the machine frame and this cannot tell.
 */
static bool usw_xen_foreign(unsigned long pfn, unsigned long bfn)
{
#ifdef CONFIG_XEN_PV
	if (static_branch_unlikely(&usw_xen_pv_key)) {
		unsigned long mfn = __pfn_to_mfn(pfn);

		return mfn != INVALID_P2M_ENTRY && (mfn & FOREIGN_FRAME_BIT);
	}
#endif
	return usw_bus_is_foreign((phys_addr_t)bfn << XEN_PAGE_SHIFT);
}

/**
 * usw_xen_phys_to_bus() - machine address of a buffer, and whether its frames are consecutive
 * @phys: pseudo-physical address of the buffer
 * @size: its length; 1 looks up only the first frame
 *
 * Return: the machine (bus) address of @phys, whether the buffer spans machine frames that
 * are not consecutive, and whether its first frame is foreign.
 */
struct usw_bus usw_xen_phys_to_bus(phys_addr_t phys, size_t size)
{
	unsigned long pfn = XEN_PFN_DOWN(phys);
	unsigned long n = XEN_PFN_DOWN(phys + max_t(size_t, size, 1) - 1) - pfn;
	unsigned long bfn = pfn_to_bfn(pfn), i;
	struct usw_bus bus = {
		.addr = ((phys_addr_t)bfn << XEN_PAGE_SHIFT) | xen_offset_in_page(phys),
		.foreign = usw_xen_foreign(pfn, bfn),
	};

	for (i = 1; i <= n && !bus.straddles; i++)
		bus.straddles = pfn_to_bfn(pfn + i) != bfn + i;
	return bus;
}

/**
 * usw_xen_auto_init() - switch on auto-translated mode in such a Xen domain
 */
void usw_xen_auto_init(void)
{
	if (xen_domain() && !xen_pv_domain() && xen_feature(XENFEAT_auto_translated_physmap))
		static_branch_enable(&usw_xen_auto_key);
}
