#!/usr/bin/perl

# Connections to CI as production has them: HTTPS, kept alive.  Many
# requests over one client connection go over one upstream TLS connection,
# reused, whether the location names an upstream {} block or just an
# address (the module's own pool, ci_jobs_keepalive); with the pool off
# each request is a new connection that resumes the last TLS session; a
# session is never resumed by a location that trusts other certificates; a
# pooled connection CI drops as it is reused costs the client nothing.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use Time::HiRes qw(sleep);
use Test::More;

my $t = CiJobsTest->new(
    emulators => {
        own => { tls => 'good' },
        block => { tls => 'good' },
        fresh => { tls => 'good' },
        shared => { tls => 'good' },
        stale => { tls => 'good', stale_after => 300 },
        stale_block => { tls => 'good', stale_after => 300 },
    },
    http => <<'EOF');
    upstream ci_block {
        server 127.0.0.1:%%EMU_block%%;
        keepalive 4;
    }

    upstream ci_shared {
        server 127.0.0.1:%%EMU_shared%%;
    }

    upstream ci_stale_block {
        server 127.0.0.1:%%EMU_stale_block%%;
        keepalive 4;
    }

    server {
        listen 127.0.0.1:%%PORT%%;

        %%CREDENTIALS%%
        ci_jobs_ssl_trusted_certificate %%CA%%;

        # a request that hangs fails the test quickly, as a 504
        ci_jobs_read_timeout 3s;

        location /own/ {
            ci_jobs on;
            ci_jobs_pass https://127.0.0.1:%%EMU_own%%;
        }

        location /block/ {
            ci_jobs on;
            ci_jobs_pass https://ci_block;
        }

        location /fresh/ {
            ci_jobs on;
            ci_jobs_keepalive 0;
            ci_jobs_pass https://127.0.0.1:%%EMU_fresh%%;
        }

        location /fresh-unverified/ {
            ci_jobs on;
            ci_jobs_keepalive 0;
            ci_jobs_ssl_verify off;
            ci_jobs_pass https://127.0.0.1:%%EMU_fresh%%;
        }

        location /shared-verified/ {
            ci_jobs on;
            ci_jobs_pass https://ci_shared;
        }

        location /shared-unverified/ {
            ci_jobs on;
            ci_jobs_ssl_verify off;
            ci_jobs_pass https://ci_shared;
        }

        location /stale/ {
            ci_jobs on;
            ci_jobs_pass https://127.0.0.1:%%EMU_stale%%;
        }

        location /stale_block/ {
            ci_jobs on;
            ci_jobs_pass https://ci_stale_block;
        }
    }
EOF

my $ID = 'jobsSuccess1';

sub connections {
    my %pid = map { $_->{pid} => 1 } @_;
    return scalar keys %pid;
}

for my $case ([own => 'an address: the module\'s own pool'],
              [block => 'an upstream {} block with keepalive'])
{
    my ($name, $what) = @$case;
    my @answers = $t->get_keepalive([ ("/$name/jobs/$ID") x 200 ],
                                    sub { $_[0]{status} != 200 });
    my @ok = grep { $_->{status} == 200 && $_->{body} =~ /<JobId>$ID</ }
             @answers;
    is(scalar @ok, 200, "$what: 200 requests over one client connection, "
                        . 'all answered');

    # a pooled connection that no client event wakes: the request must be
    # sent at once, not left in nginx's TLS buffer
    my @alone = map { $t->get("/$name/jobs/$ID") } 1 .. 3;
    is(scalar(grep { $_->{status} == 200 } @alone), 3,
       "$what: 3 more requests, each from a new client connection, "
       . 'answered');

    my @seen = $t->upstream_requests($name);
    is(scalar @seen, 203, "$what: 203 upstream requests");
    is(scalar(grep { $_->{signature} eq 'ok' } @seen), 203,
       "$what: every one signed right");
    is(connections(@seen), 1, "$what: all over one TLS connection");
}

# CI closes a pooled connection just as it is reused (its idle timeout ran
# out): the request is sent again on a new connection, as proxy_pass does,
# and the client never sees the failure
for my $case ([stale => 'the module\'s own pool'],
              [stale_block => 'an upstream {} block'])
{
    my ($name, $what) = @$case;
    my @answers = ($t->get("/$name/jobs/$ID"));
    sleep 0.5;
    push @answers, $t->get("/$name/jobs/$ID");
    is_deeply([ map { $_->{status} } @answers ], [ 200, 200 ],
              "$what, a connection CI drops when reused: both answered");
    like($answers[1]{body}, qr/<JobId>$ID</, "$what: with the job");
    my @seen = $t->upstream_requests($name);
    is_deeply([ map { $_->{fault} // '' } @seen ], [ '', 'stale', '' ],
              "$what: dropped once, then sent again");
    is(connections(@seen), 2, "$what: on a new connection");
}

# no pool: a connection a request, each handshake after the first resumes
my @fresh;
push @fresh, $t->get("/fresh/jobs/$ID") for 1 .. 5;
is(scalar(grep { $_->{status} == 200 } @fresh), 5,
   'ci_jobs_keepalive 0: every request answered');
my @seen = $t->upstream_requests('fresh');
is(connections(@seen), 5, 'ci_jobs_keepalive 0: a connection a request');
is_deeply([ map { $_->{tls_resumed} ? 1 : 0 } @seen ], [0, 1, 1, 1, 1],
          'new connections resume the TLS session');

# the same server, without verification: its own sessions, never ours
$t->forget_upstream_requests;
$t->get("/fresh-unverified/jobs/$ID") for 1 .. 2;
$t->get("/fresh/jobs/$ID");
@seen = $t->upstream_requests('fresh');
is_deeply([ map { $_->{tls_resumed} ? 1 : 0 } @seen ], [0, 1, 1],
          'a location without verification resumes only its own sessions, '
          . 'and the verified one still its own');

# one block, two trust settings: no session is resumed at all
for (1 .. 2) {
    is($t->get("/shared-unverified/jobs/$ID")->{status}, 200,
       'block shared by trust settings: unverified location answers');
    is($t->get("/shared-verified/jobs/$ID")->{status}, 200,
       'block shared by trust settings: verified location answers');
}
@seen = $t->upstream_requests('shared');
# since nginx 1.29.7 a block keeps connections alive by default, in a pool
# of each location's own ("keepalive 32 local"): a connection a location
my $local = CiJobsTest::nginx_at_least('1.29.7');
is(connections(@seen), $local ? 2 : 4,
   $local ? 'block without keepalive: a connection a location'
          : 'block without keepalive: a connection a request');
is(scalar(grep { $_->{tls_resumed} } @seen), 0,
   'a block shared by locations of other trust settings resumes no session');

$t->done;
done_testing;
