"""Field and edge names of the Graph API nodes the stand-in serves.

Names only, read from Meta's machine-readable node specs
(facebook/facebook-business-sdk-codegen, ``api_specs/specs/*.json``, as copied to
``shared/contracts/meta/specs``). A name here that the stand-in has no value for is
left out of the answer, as Meta leaves out empty fields; a name not here is Meta's
``(#100) Tried accessing nonexisting field`` error.
"""
from __future__ import annotations

FIELDS: dict[str, frozenset[str]] = {
    "Page": frozenset({
        'about', 'access_token', 'ad_campaign', 'affiliation', 'app_id', 'artists_we_like',
        'attire', 'available_promo_offer_ids', 'awards', 'band_interests', 'band_members',
        'best_page', 'bio', 'birthday', 'booking_agent', 'breaking_news_usage', 'built',
        'business', 'can_checkin', 'can_post', 'category', 'category_list', 'checkins',
        'company_overview', 'connected_instagram_account',
        'connected_page_backed_instagram_account', 'contact_address',
        'copyright_attribution_insights', 'copyright_whitelisted_ig_partners',
        'country_page_likes', 'cover', 'culinary_team', 'current_location',
        'delivery_and_pickup_option_info', 'description', 'description_html',
        'differently_open_offerings', 'directed_by', 'display_subtext',
        'displayed_message_response_time', 'does_viewer_have_page_permission_link_ig', 'emails',
        'engagement', 'fan_count', 'featured_video', 'features', 'followers_count',
        'food_styles', 'founded', 'general_info', 'general_manager', 'genre',
        'global_brand_page_name', 'global_brand_root_id', 'has_added_app', 'has_lead_access',
        'has_transitioned_to_new_page_experience', 'has_whatsapp_business_number',
        'has_whatsapp_number', 'hometown', 'hours', 'id', 'impressum', 'influences',
        'instagram_business_account', 'is_always_open', 'is_calling_eligible', 'is_chain',
        'is_community_page', 'is_eligible_for_branded_content',
        'is_eligible_for_disable_connect_ig_btn_for_non_page_admin_am_web',
        'is_messenger_bot_get_started_enabled', 'is_messenger_platform_bot', 'is_owned',
        'is_permanently_closed', 'is_published', 'is_unclaimed', 'is_verified',
        'is_webhooks_subscribed', 'keywords', 'leadgen_tos_acceptance_time',
        'leadgen_tos_accepted', 'leadgen_tos_accepting_user', 'link', 'location', 'members',
        'merchant_id', 'merchant_review_status', 'messaging_feature_status',
        'messenger_ads_default_icebreakers', 'messenger_ads_default_quick_replies',
        'messenger_ads_quick_replies_type', 'mini_shop_storefront', 'mission', 'mpg', 'name',
        'name_with_location_descriptor', 'network', 'new_like_count', 'offer_eligible',
        'overall_star_rating', 'owner_business', 'page_token', 'parent_page', 'parking',
        'payment_options', 'personal_info', 'personal_interests', 'pharma_safety_info', 'phone',
        'pickup_options', 'place_type', 'plot_outline', 'preferred_audience', 'press_contact',
        'price_range', 'priority_hours', 'privacy_info_url', 'produced_by', 'products',
        'promotion_eligible', 'promotion_ineligible_reason', 'public_transit', 'rating_count',
        'recipient', 'record_label', 'release_date', 'restaurant_services',
        'restaurant_specialties', 'schedule', 'screenplay_by', 'season', 'single_line_address',
        'starring', 'start_info', 'store_code', 'store_location_descriptor', 'store_number',
        'studio', 'supports_donate_button_in_live_video', 'talking_about_count',
        'temporary_status', 'unread_message_count', 'unread_notif_count',
        'unseen_message_count', 'user_access_expire_time', 'username', 'verification_status',
        'voip_info', 'website', 'were_here_count', 'whatsapp_number', 'written_by'
    }),
    "PagePost": frozenset({
        'actions', 'admin_creator', 'allowed_advertising_objectives', 'application',
        'backdated_time', 'call_to_action', 'can_reply_privately', 'child_attachments',
        'comments_mirroring_domain', 'coordinates', 'created_time', 'event', 'expanded_height',
        'expanded_width', 'feed_targeting', 'from', 'full_picture', 'height', 'icon', 'id',
        'instagram_eligibility', 'is_app_share', 'is_eligible_for_dark_post',
        'is_eligible_for_promotion', 'is_expired', 'is_hidden', 'is_inline_created',
        'is_instagram_eligible', 'is_popular', 'is_published', 'is_spherical', 'message',
        'message_tags', 'multi_share_end_card', 'multi_share_optimized', 'parent_id',
        'permalink_url', 'picture', 'place', 'privacy', 'promotable_id', 'promotion_status',
        'properties', 'scheduled_publish_time', 'shares', 'status_type', 'story', 'story_tags',
        'subscribed', 'target', 'targeting', 'timeline_visibility', 'updated_time', 'via',
        'video_buying_eligibility', 'width'
    }),
    "Post": frozenset({
        'actions', 'admin_creator', 'allowed_advertising_objectives', 'application',
        'backdated_time', 'call_to_action', 'can_reply_privately', 'caption',
        'child_attachments', 'comments_mirroring_domain', 'coordinates', 'created_time',
        'description', 'event', 'expanded_height', 'expanded_width', 'feed_targeting', 'from',
        'full_picture', 'height', 'icon', 'id', 'instagram_eligibility', 'is_app_share',
        'is_eligible_for_dark_post', 'is_eligible_for_promotion', 'is_expired', 'is_hidden',
        'is_inline_created', 'is_instagram_eligible', 'is_popular', 'is_published',
        'is_spherical', 'link', 'message', 'message_tags', 'multi_share_end_card',
        'multi_share_optimized', 'name', 'object_id', 'parent_id', 'permalink_url', 'picture',
        'place', 'privacy', 'promotable_id', 'promotion_status', 'properties',
        'scheduled_publish_time', 'shares', 'source', 'status_type', 'story', 'story_tags',
        'subscribed', 'target', 'targeting', 'timeline_visibility', 'type', 'updated_time',
        'via', 'video_buying_eligibility', 'width'
    }),
    "Comment": frozenset({
        'admin_creator', 'application', 'attachment', 'can_comment', 'can_hide', 'can_like',
        'can_remove', 'can_reply_privately', 'comment_count', 'created_time', 'from', 'id',
        'is_hidden', 'is_private', 'like_count', 'live_broadcast_timestamp', 'message',
        'message_tags', 'object', 'parent', 'permalink_url', 'private_reply_conversation',
        'user_likes'
    }),
    "IGUser": frozenset({
        'biography', 'business_discovery', 'followers_count', 'follows_count',
        'has_profile_pic', 'id', 'ig_id', 'is_published', 'legacy_instagram_user_id',
        'media_count', 'mentioned_comment', 'mentioned_media', 'name', 'owner_business',
        'profile_picture_url', 'shopping_product_tag_eligibility', 'shopping_review_status',
        'username', 'website'
    }),
    "IGMedia": frozenset({
        'alt_text', 'boost_eligibility_info', 'caption', 'comments_count',
        'copyright_check_information', 'current_live_viewer_count', 'has_poll', 'has_slider',
        'id', 'ig_id', 'is_comment_enabled', 'is_shared_to_feed', 'legacy_instagram_media_id',
        'like_count', 'media_product_type', 'media_type', 'media_url', 'owner', 'permalink',
        'shortcode', 'thumbnail_url', 'timestamp', 'username', 'video_title', 'view_count'
    }),
    "IGComment": frozenset({
        'from', 'hidden', 'id', 'legacy_instagram_comment_id', 'like_count', 'media',
        'parent_id', 'text', 'timestamp', 'user', 'username'
    }),
    "UnifiedThread": frozenset({
        'can_reply', 'folder', 'former_participants', 'id', 'is_owner', 'is_subscribed', 'link',
        'linked_group', 'message_count', 'name', 'participants', 'scoped_thread_key', 'senders',
        'snippet', 'unread_count', 'updated_time', 'wallpaper'
    }),
    "Profile": frozenset({
        'can_post', 'id', 'link', 'name', 'pic', 'pic_crop', 'pic_large', 'pic_small',
        'pic_square', 'profile_type', 'username'
    }),
}

# GET edges of each node (also readable as fields, e.g. ``comments.limit(5){id}``).
EDGES: dict[str, frozenset[str]] = {
    "Page": frozenset({
        'ab_tests', 'ads_eligibility', 'ads_posts', 'agencies', 'albums', 'ar_experience',
        'assigned_users', 'blocked', 'businessprojects', 'call_to_actions', 'canvas_elements',
        'canvases', 'chat_plugin', 'commerce_merchant_settings', 'commerce_orders',
        'commerce_payouts', 'commerce_transactions', 'conversations',
        'crosspost_whitelisted_pages', 'ctx_optimization_eligibility', 'custom_labels',
        'custom_user_settings', 'dataset', 'events', 'fantasy_games', 'feed',
        'global_brand_children', 'image_copyrights', 'indexed_videos', 'insights',
        'instagram_accounts', 'leadgen_forms', 'likes', 'live_videos', 'locations',
        'media_fingerprints', 'message_templates', 'messaging_feature_review',
        'messenger_call_permissions', 'messenger_call_settings', 'messenger_lead_forms',
        'messenger_profile', 'notification_message_tokens', 'page_backed_instagram_accounts',
        'personas', 'photos', 'picture', 'posts', 'product_catalogs', 'published_posts',
        'ratings', 'roles', 'rtb_dynamic_posts', 'scheduled_posts', 'secondary_receivers',
        'settings', 'shop_setup_status', 'space_participants', 'store_locations', 'stories',
        'subscribed_apps', 'tabs', 'tagged', 'thread_owner', 'threads', 'video_copyright_rules',
        'video_lists', 'video_reels', 'videos', 'visitor_posts', 'welcome_message_flows'
    }),
    "PagePost": frozenset({
        'attachments', 'comments', 'dynamic_posts', 'insights', 'likes', 'reactions',
        'sharedposts', 'sponsor_tags', 'to'
    }),
    "Post": frozenset({
        'attachments', 'comments', 'dynamic_posts', 'insights', 'reactions', 'sharedposts',
        'sponsor_tags', 'to'
    }),
    "Comment": frozenset({
        'comments', 'likes', 'reactions'
    }),
    "IGUser": frozenset({
        'agencies', 'authorized_adaccounts', 'available_catalogs',
        'branded_content_ad_permissions', 'branded_content_advertisable_medias',
        'branded_content_tag_approval', 'catalog_product_search', 'collaboration_invites',
        'collaborative_media', 'connected_threads_user', 'content_publishing_limit',
        'creator_marketplace_creators', 'dataset', 'insights', 'instagram_backed_threads_user',
        'live_media', 'media', 'notification_message_tokens', 'product_appeal',
        'recently_searched_hashtags', 'scheduled_media', 'stories', 'tags', 'upcoming_events',
        'welcome_message_flows'
    }),
    "IGMedia": frozenset({
        'boost_ads_list', 'branded_content_partner_promote', 'children', 'collaborators',
        'comments', 'insights', 'product_tags'
    }),
    "IGComment": frozenset({
        'replies'
    }),
    "UnifiedThread": frozenset({
        'messages'
    }),
    "Profile": frozenset({
        'picture'
    }),
}
